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
