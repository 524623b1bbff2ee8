"""Chapter 5, OOD detection: the fidelity checks of LAB_SPECS.md §5, read from the results
file the walkthrough wrote (tiny profile: the drawn-objects stand-in of CIFAR-10, one
model per held-out class, thresholds at 95 % TPR on the nine-class test set)."""

import pytest

pytestmark = pytest.mark.slow


def test_ood_threshold_keeps_95_percent_of_the_id_test_set(results):
    assert results["tpr"] == 0.95, f"expected the 95 % TPR rule, got tpr={results['tpr']}"
    for held_out, by_score in results["metrics"].items():
        for score, by_set in by_score.items():
            for name, row in by_set.items():
                assert abs(row["ID kept"] - 0.95) <= 0.01, (
                    f"{held_out}/{score}/{name}: expected 95 ± 1 % of the ID test set "
                    f"kept, got {row['ID kept']:.3f}")


def test_ood_held_out_class_is_flagged_more_often_than_id_images(results):
    assert set(results["metrics"]) == {"frog", "cat"}, (
        f"expected models without frog and without cat, got {set(results['metrics'])}")
    for held_out, by_score in results["metrics"].items():
        accuracy = results["accuracy"][held_out]["test"]
        assert accuracy > 0.7, (
            f"the model without {held_out} should learn: expected test accuracy > 0.7, "
            f"got {accuracy:.3f}")
        msp = by_score["MSP"]["held-out"]
        assert msp["flagged"] > 0.05, (
            f"without {held_out}: expected more of the held-out class flagged than the 5 % "
            f"of ID images, got {msp['flagged']:.3f}")
        assert msp["AUROC"] > 0.5, (
            f"without {held_out}: expected an MSP AUROC above chance, got {msp['AUROC']:.3f}")
