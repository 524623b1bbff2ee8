"""Chapter 4, backdoor: the fidelity checks of LAB_SPECS.md §4, read from the results
file the walkthrough wrote (tiny profile; see conftest.py)."""

import pytest

pytestmark = pytest.mark.slow

DETECTORS = ("spectral signatures", "activation clustering")


def test_plain_backdoor_succeeds_without_hurting_clean_accuracy(results):
    clean, plain = results["scores"]["clean model"], results["scores"]["plain backdoor"]
    assert clean["clean accuracy"] > 0.8, (
        f"the clean model should learn cats vs dogs: expected > 0.8, got {clean}")
    assert clean["ASR"] < 0.3, f"a clean model must not obey the trigger: got {clean}"
    assert plain["ASR"] >= 0.9, f"expected the plain backdoor's ASR >= 0.9, got {plain}"
    assert abs(plain["clean accuracy"] - clean["clean accuracy"]) <= 0.03, (
        f"expected clean accuracy within 3 points of the clean model's: "
        f"{clean['clean accuracy']:.3f} vs {plain['clean accuracy']:.3f}")


def test_detectors_catch_most_plain_poisons(results):
    plain = results["detection"]["plain backdoor"]
    for detector in DETECTORS:
        assert plain[detector]["tpr"] >= 0.8, (
            f"{detector}: expected TPR >= 0.8 on the plain backdoor, got {plain[detector]}")
        assert plain[detector]["fpr"] <= 0.2, (
            f"{detector}: expected FPR <= 0.2 on the plain backdoor, got {plain[detector]}")


def test_adaptive_backdoor_keeps_its_asr_while_detection_drops(results):
    clean = results["scores"]["clean model"]
    adaptive = results["scores"]["adaptive backdoor"]
    assert adaptive["ASR"] >= 0.8, f"expected the adaptive ASR >= 0.8, got {adaptive}"
    # the latent penalty costs the model a few points; it must still do the task
    assert adaptive["clean accuracy"] >= clean["clean accuracy"] - 0.08, (
        f"expected clean accuracy within 8 points of the clean model's: "
        f"{clean['clean accuracy']:.3f} vs {adaptive['clean accuracy']:.3f}")
    plain = results["detection"]["plain backdoor"]
    evaded = results["detection"]["adaptive backdoor"]
    for detector in DETECTORS:
        assert evaded[detector]["tpr"] <= plain[detector]["tpr"] - 0.25, (
            f"{detector}: expected TPR to drop 25+ points, got "
            f"{plain[detector]['tpr']:.3f} → {evaded[detector]['tpr']:.3f}")


def test_adaptive_discriminator_still_tells_the_latents_apart(results):
    """book/backdoor/index.md says the adaptive attack does not make the latents
    indistinguishable; update the page if this changes."""
    accuracy = results["adaptive_discriminator_accuracy"]
    assert accuracy > 0.6, (
        f"expected the discriminator's last-epoch balanced accuracy well above 0.5 "
        f"(> 0.6), got {accuracy:.3f}")
