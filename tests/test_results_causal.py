"""Chapter 7, causal attribution: the fidelity checks of LAB_SPECS.md §7, read from the
results file the walkthrough wrote (tiny profile: drawn clothing items; layer-2 averages
over all units and over the profile's seeds; see conftest.py)."""

import pytest

pytestmark = pytest.mark.slow


def test_ignored_unit_has_no_effect_and_important_units_do(results):
    accuracy = results["accuracy"]
    assert min(accuracy.values()) > 0.6, (
        f"expected the shallow net to learn the task (test accuracy > 0.6), got {accuracy}")
    ignored = results["ignored_unit_max_abs_effect"]
    assert ignored < 1e-6, f"expected no effect of a unit the head ignores, got {ignored:.2e}"
    important = results["important_unit_expected_effect"]
    assert abs(important) > 0.05, (
        f"expected |E[Effect]| > 0.05 for the most important layer-2 unit, got {important:+.4f}")
    strongest = max(abs(row["Z₀"]) for row in results["table"].values())
    assert strongest > 0.05, (
        f"expected a unit of the table with |E[Effect]| > 0.05 on clean images, got "
        f"{strongest:.4f}")


def test_masking_and_adversarial_noise_shrink_the_mean_effect(results):
    mean_abs = results["mean_abs_effect"]
    for condition in ("PWM", "FGSM", "BIM", "PGD", "JSMA"):
        assert mean_abs[condition] < mean_abs["Z₀"], (
            f"expected the mean |effect| under {condition} below Z₀'s {mean_abs['Z₀']:.4f}, "
            f"got {mean_abs[condition]:.4f}")
    weakest = min(mean_abs["BIM"], mean_abs["PGD"])
    assert weakest < 0.8 * mean_abs["Z₀"], (
        f"expected BIM or PGD below 80 % of Z₀'s mean |effect| {mean_abs['Z₀']:.4f}, got "
        f"{weakest:.4f}")


def test_causal_effects_detect_adversarial_inputs_better_than_chance(results):
    for attack, auroc in results["detector_auroc"].items():
        assert auroc > 0.7, f"expected the {attack} detector's AUROC > 0.7, got {auroc:.3f}"


def test_concept_effects_grow_under_fgsm_and_pgd(results):
    """book/causal/index.md says the concepts go the other way than the layer-2 units;
    update the page if this changes."""
    table = results["concepts"]["table"]
    mean_abs = {condition: sum(abs(row[condition]) for row in table.values()) / len(table)
                for condition in ("Z₀", "FGSM", "PGD")}
    for condition in ("FGSM", "PGD"):
        assert mean_abs[condition] > mean_abs["Z₀"], (
            f"expected the concepts' mean |effect| under {condition} above Z₀'s "
            f"{mean_abs['Z₀']:.4f}, got {mean_abs[condition]:.4f}")
