"""Every walkthrough runs top to bottom in the tiny profile and records its results.

The walkthroughs run once, in the session's book build (conftest.py); each chapter's
fidelity checks read the results file there (tests/test_results_<chapter>.py). The lab
solutions run top to bottom in the grading batch (test_grading.py), where they must
score full marks.
"""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WALKTHROUGHS = sorted(REPO.glob("book/*/*.ipynb"))
SOLUTIONS = sorted(REPO.glob("solutions/*/*.ipynb"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def walkthrough_results(walkthrough_outputs):
    """{chapter: results dict} written by each walkthrough during the book build."""
    results, missing = {}, []
    for notebook in WALKTHROUGHS:
        chapter = notebook.parent.name
        path = walkthrough_outputs / chapter / "results-tiny.json"
        if path.exists():
            results[chapter] = json.loads(path.read_text())
        else:
            missing.append(chapter)
    assert not missing, (
        f"walkthroughs that wrote no results in the book build: {missing}; "
        f"see the book build log under _build/artifacts")
    return results


def test_every_chapter_has_a_walkthrough_and_a_lab():
    assert WALKTHROUGHS and SOLUTIONS
    assert {n.parent.name for n in WALKTHROUGHS} == {n.parent.name for n in SOLUTIONS}


@pytest.mark.parametrize("chapter", [n.parent.name for n in WALKTHROUGHS])
def test_walkthrough_runs_and_records_its_data(walkthrough_results, chapter):
    results = walkthrough_results[chapter]
    assert results["profile"] == "tiny" and results["seed"] == 0
    assert results["data"] and all("stand-in" in d for d in results["data"].values())


# Chapter 2, robustness: the fidelity checks of LAB_SPECS.md §2.

def test_adversarial_accuracy_is_far_below_clean_for_a_standard_model(walkthrough_results):
    standard = walkthrough_results["robustness"]["accuracy"]["standard"]
    assert standard["clean"] > 0.6, "the standard model should learn the task"
    assert standard["adversarial (20 px + FGSM)"] < standard["clean"] - 0.3
    assert standard["PGD"] < standard["clean"] / 3


def test_adversarial_training_buys_robustness_at_a_small_clean_cost(walkthrough_results):
    accuracy = walkthrough_results["robustness"]["accuracy"]
    standard, robust = accuracy["standard"], accuracy["adversarially trained"]
    for attack in ("adversarial (20 px + FGSM)", "PGD"):
        assert robust[attack] > standard[attack] + 0.2, attack
    assert standard["clean"] - robust["clean"] < 0.2


def test_pgd_is_at_least_as_strong_as_fgsm(walkthrough_results):
    for model, scores in walkthrough_results["robustness"]["accuracy"].items():
        assert scores["PGD"] <= scores["FGSM"] + 0.01, model


def test_transfer_attack_is_weaker_than_white_box_but_above_chance(walkthrough_results):
    results = walkthrough_results["robustness"]
    transfer, standard = results["transfer"], results["accuracy"]["standard"]
    assert standard["PGD"] + 0.1 < transfer["target_accuracy"], "weaker than white box"
    assert transfer["target_accuracy"] < transfer["noise_accuracy"] - 0.02, "more than noise"
    assert transfer["target_accuracy"] > 0.2, "well above chance (10 %)"


def test_circle_loss_alone_does_not_buy_robustness(walkthrough_results):
    accuracy = walkthrough_results["robustness"]["accuracy"]
    circle, robust = accuracy["circle loss + k-NN"], accuracy["adversarially trained"]
    assert circle["clean"] > 0.5
    assert circle["adversarial (20 px + FGSM)"] < circle["clean"] - 0.3
    assert circle["adversarial (20 px + FGSM)"] < robust["adversarial (20 px + FGSM)"] - 0.2


def test_robust_accuracy_falls_with_epsilon(walkthrough_results):
    curves = walkthrough_results["robustness"]["curves"]
    for name in ("standard", "adversarially trained"):
        assert all(a >= b - 0.02 for a, b in zip(curves[name], curves[name][1:])), name
    assert curves["standard"][-1] < 0.1


# Chapter 4, backdoor: the fidelity checks of LAB_SPECS.md §4.

def test_plain_backdoor_succeeds_without_hurting_clean_accuracy(walkthrough_results):
    scores = walkthrough_results["backdoor"]["scores"]
    clean, plain = scores["clean model"], scores["plain backdoor"]
    assert clean["clean accuracy"] > 0.8, "the clean model should learn cats vs dogs"
    assert clean["ASR"] < 0.3, "a clean model must not obey the trigger"
    assert plain["ASR"] >= 0.9
    assert abs(plain["clean accuracy"] - clean["clean accuracy"]) <= 0.03


def test_detectors_catch_most_plain_poisons(walkthrough_results):
    plain = walkthrough_results["backdoor"]["detection"]["plain backdoor"]
    for detector in ("spectral signatures", "activation clustering"):
        assert plain[detector]["tpr"] >= 0.8, detector
        assert plain[detector]["fpr"] <= 0.2, detector


def test_adaptive_backdoor_keeps_its_asr_while_detection_drops(walkthrough_results):
    results = walkthrough_results["backdoor"]
    clean, adaptive = results["scores"]["clean model"], results["scores"]["adaptive backdoor"]
    assert adaptive["ASR"] >= 0.8
    # the latent penalty costs the model a few points; it must still do the task
    assert adaptive["clean accuracy"] >= clean["clean accuracy"] - 0.08
    plain, evaded = results["detection"]["plain backdoor"], results["detection"]["adaptive backdoor"]
    for detector in ("spectral signatures", "activation clustering"):
        assert evaded[detector]["tpr"] <= plain[detector]["tpr"] - 0.25, detector


# Chapter 3, fairness: the fidelity checks of LAB_SPECS.md §3 (tiny profile: the planted
# bias of the stand-in census; the debiased model passes the four-fifths rule for both).

def test_unconstrained_models_violate_the_four_fifths_rule(walkthrough_results):
    table = walkthrough_results["fairness"]["table"]
    for run in ("unconstrained, with sex and race", "unconstrained, without sex and race"):
        assert table[run]["accuracy"] > 78, f"{run} should learn the task"
        assert table[run]["p% sex"] < 80 and table[run]["p% race"] < 80, run


def test_debiasing_raises_both_p_rules_for_a_bounded_accuracy_loss(walkthrough_results):
    table = walkthrough_results["fairness"]["table"]
    before, after = table["unconstrained, without sex and race"], table["adversarial debiasing"]
    assert after["p% sex"] >= 80, "the debiased model should pass the four-fifths rule for sex"
    assert after["p% race"] >= 80, "the debiased model should pass the four-fifths rule for race"
    assert before["accuracy"] - after["accuracy"] <= 5


def test_larger_lambda_is_fairer_and_less_accurate(walkthrough_results):
    sweep = walkthrough_results["fairness"]["sweep"]
    rows = [sweep[scale] for scale in sorted(sweep, key=float)]
    assert len(rows) >= 3
    tolerance = 1.0  # percentage points of noise between neighbouring λ
    for smaller, larger in zip(rows, rows[1:]):
        assert larger["accuracy"] <= smaller["accuracy"] + tolerance
        for attribute in ("sex", "race"):
            assert larger[f"p% {attribute}"] >= smaller[f"p% {attribute}"] - tolerance
    assert rows[-1]["accuracy"] < rows[0]["accuracy"]
    assert min(rows[-1]["p% sex"], rows[-1]["p% race"]) > min(rows[0]["p% sex"], rows[0]["p% race"])


# Chapter 5, OOD detection: the fidelity checks of LAB_SPECS.md §5 (tiny profile: the
# drawn-objects stand-in of CIFAR-10, one model per held-out class, thresholds at 95 %
# TPR on the nine-class test set).

def test_ood_threshold_keeps_95_percent_of_the_id_test_set(walkthrough_results):
    results = walkthrough_results["ood"]
    assert results["tpr"] == 0.95
    for held_out, by_score in results["metrics"].items():
        for score, by_set in by_score.items():
            for name, row in by_set.items():
                assert abs(row["ID kept"] - 0.95) <= 0.01, (held_out, score, name)


def test_ood_held_out_class_is_flagged_more_often_than_id_images(walkthrough_results):
    results = walkthrough_results["ood"]
    assert set(results["metrics"]) == {"frog", "cat"}
    for held_out, by_score in results["metrics"].items():
        assert results["accuracy"][held_out]["test"] > 0.7, f"the model without {held_out} should learn"
        msp = by_score["MSP"]["held-out"]
        assert msp["flagged"] > 0.05 and msp["AUROC"] > 0.5, held_out


# Chapter 7, causal attribution: the fidelity checks of LAB_SPECS.md §7 (tiny profile:
# drawn clothing items; layer-2 averages over all units and over the profile's seeds).

def test_ignored_unit_has_no_effect_and_important_units_do(walkthrough_results):
    results = walkthrough_results["causal"]
    assert min(results["accuracy"].values()) > 0.6, "the shallow net should learn the task"
    assert results["ignored_unit_max_abs_effect"] < 1e-6
    assert abs(results["important_unit_expected_effect"]) > 0.05
    table = results["table"]
    assert max(abs(row["Z₀"]) for row in table.values()) > 0.05


def test_masking_and_adversarial_noise_shrink_the_mean_effect(walkthrough_results):
    mean_abs = walkthrough_results["causal"]["mean_abs_effect"]
    for condition in ("PWM", "FGSM", "BIM", "PGD", "JSMA"):
        assert mean_abs[condition] < mean_abs["Z₀"], condition
    assert min(mean_abs["BIM"], mean_abs["PGD"]) < 0.8 * mean_abs["Z₀"]


def test_causal_effects_detect_adversarial_inputs_better_than_chance(walkthrough_results):
    results = walkthrough_results["causal"]
    for attack, auroc in results["detector_auroc"].items():
        assert auroc > 0.7, attack


# Chapter 6, sparsity: the fidelity checks of LAB_SPECS.md §6 (tiny profile: the
# stand-in of CIFAR-10, a small CNN with global pooling; the robustness table is only
# reported, not checked: the spec's own table is mixed).

def test_activation_penalty_lowers_density_at_similar_accuracy(walkthrough_results):
    sweep = walkthrough_results["sparsity"]["density_sweep"]
    rows = [sweep[lam] for lam in sorted(sweep, key=float)]
    assert rows[0]["density"] <= 0.5, "a ReLU code is sparse already"
    assert rows[-1]["density"] <= rows[0]["density"] - 0.1, "the largest λ lowers the density"
    assert all(later["density"] <= earlier["density"] + 0.01
               for earlier, later in zip(rows, rows[1:])), "density falls with λ"
    assert rows[-1]["accuracy"] >= rows[0]["accuracy"] - 0.03, "at similar accuracy"
    assert rows[0]["accuracy"] > 0.35, "the single-layer CNN learns the task (chance: 10 %)"


def test_elastic_net_and_l1_sparsify_at_similar_accuracy(walkthrough_results):
    table = walkthrough_results["sparsity"]["models"]
    base = table["Base"]
    assert base["accuracy"] > 0.4, "the base model learns the task (chance: 10 %)"
    assert table["ElasticNet"]["density"] < base["density"], "elastic net: sparser code"
    for name in ("L1", "ElasticNet"):
        assert table[name]["accuracy"] >= base["accuracy"] - 0.05, name
        assert table[name]["zero weights"] >= base["zero weights"] + 0.2, f"{name}: zeros"


def test_regularized_attributions_are_at_least_as_stable(walkthrough_results):
    """On the same images: the regularized models together are at least as stable as
    Base by the mean SSD, and each of them is by the median (the per-image SSDs are
    heavy-tailed, std ≈ mean, so over a few dozen images one model's mean is decided by
    a handful of images; the tiny run's ElasticNet mean is above Base's, its median not)."""
    results = walkthrough_results["sparsity"]
    means, medians = results["ssd"], results["ssd_median"]
    for attribution in ("sliding patch", "Grad-CAM"):
        regularized = ("L1", "L2", "ElasticNet")
        assert sum(means[name][attribution] for name in regularized) / 3 \
            <= means["Base"][attribution], attribution
        for name in regularized:
            assert medians[name][attribution] <= 1.05 * medians["Base"][attribution], \
                (attribution, name)


def test_shortcut_model_is_accurate_but_not_trustworthy(walkthrough_results):
    trust = walkthrough_results["sparsity"]["trust"]
    clean, shortcut = trust["clean"], trust["shortcut"]
    assert shortcut["accuracy"] >= 0.8 and shortcut["accuracy"] > clean["accuracy"] + 0.2
    assert shortcut["trust (occlusion)"] <= 0.35
    assert clean["trust (occlusion)"] >= shortcut["trust (occlusion)"] + 0.25
    assert clean["trust (Grad-CAM)"] > shortcut["trust (Grad-CAM)"]


def test_attack_table_is_complete(walkthrough_results):
    attacks = walkthrough_results["sparsity"]["attacks"]
    assert set(attacks) == {"Base", "L1", "L2", "ElasticNet"}
    for name, row in attacks.items():
        for attack in ("DeepFool", "FGSM", "PGD"):
            assert 0 <= row[attack] <= row["clean"], (name, attack)
        assert row["PGD"] <= row["FGSM"] + 0.05, name
