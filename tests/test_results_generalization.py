"""Chapter 1, generalization: the fidelity checks of LAB_SPECS.md §1, read from the
results file the walkthrough wrote (tiny profile; see conftest.py)."""

import pytest

pytestmark = pytest.mark.slow


def test_cross_domain_accuracy_is_far_below_in_domain(results):
    baseline = results["ablations"]["baseline"]
    assert baseline["SVHN"] > 0.7, f"the baseline should learn its own domain: got {baseline}"
    assert baseline["SVHN"] - baseline["MNIST"] > 0.2, (
        f"expected MNIST accuracy more than 20 points below SVHN's, got {baseline}")


def test_richer_domain_transfers_better_than_the_reverse(results):
    forward_transfer = results["ablations"]["baseline"]["MNIST"]
    reverse = results["reverse"]
    assert reverse["MNIST"] > 0.7, f"the reverse model should learn its own domain: got {reverse}"
    assert reverse["SVHN"] < forward_transfer - 0.1, (
        f"expected MNIST→SVHN ({reverse['SVHN']:.3f}) at least 10 points below "
        f"SVHN→MNIST ({forward_transfer:.3f})")


def test_finetuning_the_head_raises_target_accuracy(results):
    before, after = results["reverse"]["SVHN"], results["finetuned"]["SVHN"]
    assert after > before + 0.05, (
        f"expected fine-tuning to raise SVHN accuracy by 5+ points: {before:.3f} → {after:.3f}")


def test_every_model_trains_well_above_chance(results):
    """Each model of the walkthrough, on its own domain's test set (issue 15: none at chance)."""
    models = results["models"]
    expected = {*results["ablations"], "reverse (MNIST)", "head fine-tuned (SVHN)"}
    assert set(models) == expected, (
        f"expected one entry per trained model {expected}, got {set(models)}")
    low = {name: model for name, model in models.items()
           if model["accuracy"] < model["chance"] + 0.25}
    assert not low, f"expected every accuracy ≥ chance + 0.25; below it: {low}"


def test_removing_batchnorm_costs_in_domain_accuracy(results):
    baseline = results["ablations"]["baseline"]["SVHN"]
    no_bn = results["ablations"]["no batch norm"]["SVHN"]
    assert no_bn < baseline, (
        f"expected the model without batch norm below the baseline on SVHN (the report: "
        f"92.6 → 91.9 %), got {baseline:.3f} → {no_bn:.3f}")


def test_validation_curves_are_recorded_for_every_ablation(results):
    """The dashed curves of the training-curves figure: the SVHN test accuracy per epoch,
    whose last value is the accuracy in the table."""
    for name, accuracies in results["ablations"].items():
        curve = results["val_acc"][name]
        assert len(curve) == results["recipes"][name]["epochs"], (
            f"{name}: expected one validation accuracy per epoch "
            f"({results['recipes'][name]['epochs']}), got {curve}")
        assert abs(curve[-1] - accuracies["SVHN"]) < 1e-6, (
            f"{name}: expected the last validation accuracy {curve[-1]:.4f} to equal the "
            f"SVHN test accuracy {accuracies['SVHN']:.4f}")
