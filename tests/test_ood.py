"""helpers.ood: scores, the 95 %-TPR threshold, metrics and conventions, checked against
scikit-learn and pytorch-ood on the same numbers; leave-one-class-out. (Batched logits:
helpers.models.logits, tested in test_models.py; figures: test_ood_plots.py.)"""

import math

import numpy as np
import pytest
import torch
from pytorch_ood.detector import EnergyBased, MaxSoftmax
from pytorch_ood.metrics import OODMetrics
from sklearn.metrics import roc_auc_score

from helpers import ood
from helpers.data import ImageDataset


def _scores(seed=0, n_in=500, n_out=300, shift=1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(shift, 1, n_in), rng.normal(0, 1.3, n_out)


def _logits(seed=0, n=64, k=9):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed)) * 3


# --- scores ----------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_msp_and_energy_agree_with_pytorch_ood_after_flipping_the_sign(temperature):
    logits = _logits()
    ours_msp = ood.msp_score(logits, temperature)
    ours_energy = ood.energy_score(logits, temperature)
    # pytorch-ood returns outlier scores (higher = more OOD): the negatives of ours
    theirs_msp = -MaxSoftmax(None, t=temperature).predict_logits(logits)
    theirs_energy = -EnergyBased(None, t=temperature).predict_logits(logits)
    assert torch.allclose(ours_msp, theirs_msp), (
        f"MSP: expected -pytorch-ood {theirs_msp[:3]}, got {ours_msp[:3]}")
    assert torch.allclose(ours_energy, theirs_energy), (
        f"energy: expected -pytorch-ood {theirs_energy[:3]}, got {ours_energy[:3]}")


def test_msp_is_the_largest_softmax_probability_in_its_range():
    logits = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    msp = ood.msp_score(logits)
    expected = [1 / 3, 1 / (1 + 2 * math.exp(-10)),
                math.exp(3) / sum(math.exp(v) for v in (1, 2, 3))]
    assert msp.tolist() == pytest.approx(expected), f"expected MSP {expected}, got {msp.tolist()}"
    energy = ood.energy_score(logits)[0].item()
    assert energy == pytest.approx(math.log(3)), f"expected log 3 for equal logits, got {energy}"


def test_scores_reject_bad_input():
    with pytest.raises(ValueError, match="logits"):
        ood.msp_score(torch.zeros(5))
    with pytest.raises(ValueError, match="temperature"):
        ood.energy_score(_logits(), temperature=0)


def test_as_scores_returns_float64_and_names_the_argument():
    values = ood.as_scores("mine", torch.tensor([0.5, 0.25], dtype=torch.float32))
    assert values.dtype == np.float64 and values.tolist() == [0.5, 0.25], (
        f"expected float64 [0.5, 0.25], got {values.dtype} {values.tolist()}")
    for bad in ([], [[0.1, 0.2]], [0.1, float("nan")]):
        with pytest.raises(ValueError, match="mine"):
            ood.as_scores("mine", bad)


# --- threshold --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [20, 100, 101, 500, 999, 1000])
def test_threshold_keeps_95_percent_of_id_scores_plus_at_most_one_sample(n):
    scores = np.random.default_rng(n).normal(size=n)   # continuous: no ties
    threshold = ood.threshold_at_tpr(scores, 0.95)
    kept = int((scores >= threshold).sum())
    expected = math.ceil(round(0.95 * n, 6))  # 95 of 100, not 96 (0.95·100 > 95 in floats)
    assert kept == expected, f"expected {expected} of {n} scores kept, got {kept}"
    fraction = ood.inlier_fraction(scores, [threshold])[0]
    assert fraction == kept / n, f"expected inlier fraction {kept / n}, got {fraction}"
    assert threshold in scores, f"the threshold should be one of the ID scores, got {threshold}"


def test_threshold_keeps_tied_scores_together():
    scores = np.array([0.9] * 10 + [0.5] * 10)
    threshold = ood.threshold_at_tpr(scores, 0.95)
    kept = ood.inlier_fraction(scores, [threshold])[0]
    assert (threshold, kept) == (0.5, 1.0), (
        f"expected threshold 0.5 keeping all 20 tied scores, got {threshold} keeping {kept}")


def test_inlier_fraction_falls_from_one_to_zero():
    scores = np.random.default_rng(1).uniform(size=200)
    thresholds = np.linspace(-0.1, 1.1, 50)
    fractions = ood.inlier_fraction(scores, thresholds)
    assert (fractions[0], fractions[-1]) == (1.0, 0.0), (
        f"expected 1 below every score and 0 above, got {fractions[0]}, {fractions[-1]}")
    assert np.all(np.diff(fractions) <= 0), f"expected a falling curve, got {fractions}"


def test_detection_rate_counts_scores_below_the_threshold():
    rate = ood.detection_rate(np.array([0.1, 0.5, 0.5, 0.9]), 0.5)
    assert rate == 0.25, f"expected 1 of 4 strictly below 0.5, got {rate}"
    rate = ood.detection_rate(torch.tensor([0.1, 0.2]), 1.0)
    assert rate == 1.0, f"expected both below 1.0 flagged, got {rate}"
    with pytest.raises(ValueError, match="threshold"):
        ood.detection_rate([0.1], float("nan"))


def test_bad_scores_and_fractions_raise_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match="in_scores"):
        ood.threshold_at_tpr([], 0.95)
    with pytest.raises(ValueError, match="in_scores"):
        ood.threshold_at_tpr([0.1, float("nan")])
    with pytest.raises(ValueError, match="tpr"):
        ood.threshold_at_tpr([0.1, 0.2], 95)
    with pytest.raises(ValueError, match="positive"):
        ood.fpr_at_tpr([0.1], [0.2], positive="id")


# --- metrics ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_auroc_equals_scikit_learn_in_both_conventions(seed):
    inside, outside = _scores(seed)
    inside = np.round(inside, 1)  # ties between and within the groups
    outside = np.round(outside, 1)
    labels = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
    expected = roc_auc_score(labels, np.r_[inside, outside])
    for positive in ("in", "out"):
        ours = ood.auroc(inside, outside, positive=positive)
        assert ours == pytest.approx(expected, abs=1e-12), (
            f"positive={positive}: expected scikit-learn's {expected}, got {ours}")


def _pytorch_ood_metrics(outlier_scores_in, outlier_scores_out, in_label=0):
    """pytorch-ood's OODMetrics on two groups: labels >= 0 are ID, < 0 OOD (the positive)."""
    scores = torch.cat([torch.as_tensor(outlier_scores_in), torch.as_tensor(outlier_scores_out)])
    labels = torch.cat([torch.full((len(outlier_scores_in),), in_label),
                        torch.full((len(outlier_scores_out),), -1 - in_label)])
    return OODMetrics().update(scores, labels).compute()


@pytest.mark.parametrize("seed", range(4))
def test_fpr95_and_auroc_agree_with_pytorch_ood_in_both_conventions(seed):
    inside, outside = _scores(seed, n_in=437, n_out=211)
    # pytorch-ood: outlier scores (= -ours), OOD labels < 0 are the positive class
    theirs = _pytorch_ood_metrics(-inside, -outside)
    ours = ood.fpr_at_tpr(inside, outside, positive="out")
    assert ours == pytest.approx(theirs["FPR95TPR"]), (
        f"OOD positive: expected pytorch-ood's {theirs['FPR95TPR']}, got {ours}")
    ours = ood.auroc(inside, outside)
    assert ours == pytest.approx(theirs["AUROC"]), (
        f"expected pytorch-ood's AUROC {theirs['AUROC']}, got {ours}")
    # ID as the positive class: hand pytorch-ood our scores as "outlier scores" with the
    # ID samples labelled < 0
    flipped = _pytorch_ood_metrics(torch.as_tensor(outside), torch.as_tensor(inside))
    ours = ood.fpr_at_tpr(inside, outside, positive="in")
    assert ours == pytest.approx(flipped["FPR95TPR"]), (
        f"ID positive: expected pytorch-ood's {flipped['FPR95TPR']}, got {ours}")


def test_the_two_fpr95_conventions_give_different_numbers_on_the_same_scores():
    inside, outside = _scores(0)
    id_positive = ood.fpr_at_tpr(inside, outside, positive="in")
    ood_positive = ood.fpr_at_tpr(inside, outside, positive="out")
    assert abs(id_positive - ood_positive) > 0.05, (
        f"expected the conventions 5+ points apart, got {id_positive} vs {ood_positive}")
    # with ID positive, FPR95 is the share of OOD that passes: 1 - detection rate
    threshold = ood.threshold_at_tpr(inside)
    passing = 1 - ood.detection_rate(outside, threshold)
    assert id_positive == pytest.approx(passing), (
        f"expected FPR95 = 1 - detection rate = {passing}, got {id_positive}")


def test_perfectly_separated_and_identical_scores():
    separated = (ood.auroc([2.0, 3.0], [0.0, 1.0]), ood.fpr_at_tpr([2.0, 3.0], [0.0, 1.0]))
    assert separated == (1.0, 0.0), f"expected AUROC 1 and FPR95 0, got {separated}"
    same = np.linspace(0, 1, 100)
    chance = ood.auroc(same, same)
    assert chance == pytest.approx(0.5), f"expected 0.5 for identical scores, got {chance}"


def test_ood_metrics_table_row():
    inside, outside = _scores(3)
    row = ood.ood_metrics(inside, outside)
    assert row["ID kept"] == 0.95, f"expected 95 % of 500 ID scores kept, got {row}"
    assert row["flagged"] == pytest.approx(1 - row["FPR95"]), (
        f"expected flagged = 1 - FPR95, got {row}")
    keys = {"threshold", "ID kept", "flagged", "AUROC", "FPR95", "FPR95 (OOD +)"}
    assert set(row) == keys, f"expected the columns {keys}, got {set(row)}"


# --- data -------------------------------------------------------------------------------

def _dataset():
    labels = torch.tensor([0, 6, 3, 9, 6, 5, 3, 0])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 4, 4)
    classes = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
    return ImageDataset(images.contiguous(), labels, name="cifar10", split="test",
                        source="standin", description="fixed", classes=classes)


def test_leave_one_class_out_remaps_the_other_labels():
    split = ood.leave_one_class_out(_dataset(), "frog")
    kept, held = split.kept, split.held
    assert kept.labels.tolist() == [0, 3, 8, 5, 3, 0], f"got labels {kept.labels.tolist()}"
    nine = ("airplane", "automobile", "bird", "cat", "deer", "dog", "horse", "ship", "truck")
    assert kept.classes == nine, f"expected {nine}, got {kept.classes}"
    names = [kept.classes[k] for k in kept.labels]
    assert names == ["airplane", "cat", "truck", "dog", "cat", "airplane"], (
        f"the remapped labels should keep their names, got {names}")
    order = kept.images[:, 0, 0, 0].tolist()
    assert order == [0, 2, 3, 5, 6, 7], f"expected the images in order, got {order}"
    got = (held.labels.tolist(), held.images[:, 0, 0, 0].tolist())
    assert got == ([6, 6], [1, 4]), f"expected the two frogs (labels 6, images 1, 4), got {got}"
    by_index = ood.leave_one_class_out(_dataset(), 3).kept
    assert "cat" not in by_index.classes and len(by_index) == 6, (
        f"expected 6 images without cat, got {len(by_index)} of {by_index.classes}")


def test_leave_one_class_out_checks_its_arguments():
    with pytest.raises(ValueError, match="held_out"):
        ood.leave_one_class_out(_dataset(), "unicorn")
    with pytest.raises(ValueError, match="held_out"):
        ood.leave_one_class_out(_dataset(), 10)
    with pytest.raises(TypeError, match="dataset"):
        ood.leave_one_class_out([1, 2], "frog")


def test_uniform_noise_is_seeded_and_in_pixel_range():
    noise = ood.uniform_noise(5, seed=3)
    assert noise.shape == (5, 3, 32, 32), f"expected (5, 3, 32, 32), got {tuple(noise.shape)}"
    assert 0 <= noise.min() and noise.max() <= 1, (
        f"expected pixels in [0, 1], got [{noise.min()}, {noise.max()}]")
    assert torch.equal(noise, ood.uniform_noise(5, seed=3)), "the same seed gave other noise"
    with pytest.raises(ValueError, match="count"):
        ood.uniform_noise(0)


def test_classifier_normalizes_with_cifar_statistics():
    model = ood.build_classifier("small_cnn", 9, 8)
    assert model.fc.out_features == 9, f"expected 9 outputs, got {model.fc.out_features}"
    mean = model.normalize.mean.flatten()
    assert torch.allclose(mean, torch.tensor(ood.CIFAR_MEAN)), (
        f"expected CIFAR-10's mean {ood.CIFAR_MEAN}, got {mean.tolist()}")
