"""helpers.ood: scores, the 95 %-TPR threshold, metrics and conventions, checked against
scikit-learn and pytorch-ood on the same numbers; leave-one-class-out; plots."""

import math

import numpy as np
import pytest
import torch
from pytorch_ood.detector import EnergyBased, MaxSoftmax
from pytorch_ood.metrics import OODMetrics
from sklearn.metrics import roc_auc_score

from helpers import ood, ood_plots
from helpers.data import ImageDataset
from helpers.models import build_model


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
    assert torch.allclose(ours_msp, -MaxSoftmax(None, t=temperature).predict_logits(logits))
    assert torch.allclose(ours_energy, -EnergyBased(None, t=temperature).predict_logits(logits))


def test_msp_is_the_largest_softmax_probability_in_its_range():
    logits = torch.tensor([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    msp = ood.msp_score(logits)
    assert msp[0] == pytest.approx(1 / 3)
    assert msp[1] == pytest.approx(1 / (1 + 2 * math.exp(-10)))
    assert msp[2] == pytest.approx(math.exp(3) / sum(math.exp(v) for v in (1, 2, 3)))
    assert ood.energy_score(logits)[0] == pytest.approx(math.log(3))


def test_scores_reject_bad_input():
    with pytest.raises(ValueError, match="logits"):
        ood.msp_score(torch.zeros(5))
    with pytest.raises(ValueError, match="temperature"):
        ood.energy_score(_logits(), temperature=0)


def test_logits_of_matches_the_model_and_restores_its_state():
    torch.manual_seed(0)
    model = build_model("small_cnn", 9, 8).train()
    model.fc.weight.requires_grad_(False)
    images = torch.rand(10, 3, 32, 32)
    logits = ood.logits_of(model, images, batch_size=4)
    assert model.training and not model.fc.weight.requires_grad and model.fc.bias.requires_grad
    model.eval()
    with torch.no_grad():
        assert torch.allclose(logits, model(images), atol=1e-5)
    with pytest.raises(TypeError, match="data"):
        ood.logits_of(model, images.numpy())


# --- threshold --------------------------------------------------------------------------

@pytest.mark.parametrize("n", [20, 100, 101, 500, 999, 1000])
def test_threshold_keeps_95_percent_of_id_scores_plus_at_most_one_sample(n):
    scores = np.random.default_rng(n).normal(size=n)   # continuous: no ties
    threshold = ood.threshold_at_tpr(scores, 0.95)
    kept = int((scores >= threshold).sum())
    assert 0.95 * n <= kept < 0.95 * n + 1
    assert kept == math.ceil(round(0.95 * n, 6))  # 95 of 100, not 96 (0.95·100 > 95 in floats)
    assert ood.inlier_fraction(scores, [threshold])[0] == kept / n
    assert threshold in scores, "the threshold is one of the ID scores"


def test_threshold_keeps_tied_scores_together():
    scores = np.array([0.9] * 10 + [0.5] * 10)
    threshold = ood.threshold_at_tpr(scores, 0.95)
    assert threshold == 0.5 and ood.inlier_fraction(scores, [threshold])[0] == 1.0


def test_inlier_fraction_falls_from_one_to_zero():
    scores = np.random.default_rng(1).uniform(size=200)
    thresholds = np.linspace(-0.1, 1.1, 50)
    fractions = ood.inlier_fraction(scores, thresholds)
    assert fractions[0] == 1.0 and fractions[-1] == 0.0
    assert np.all(np.diff(fractions) <= 0)


def test_detection_rate_counts_scores_below_the_threshold():
    assert ood.detection_rate(np.array([0.1, 0.5, 0.5, 0.9]), 0.5) == 0.25
    assert ood.detection_rate(torch.tensor([0.1, 0.2]), 1.0) == 1.0
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
    assert ood.auroc(inside, outside) == pytest.approx(expected, abs=1e-12)
    assert ood.auroc(inside, outside, positive="out") == pytest.approx(expected, abs=1e-12)


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
    assert ood.fpr_at_tpr(inside, outside, positive="out") == pytest.approx(theirs["FPR95TPR"])
    assert ood.auroc(inside, outside) == pytest.approx(theirs["AUROC"])
    # ID as the positive class: hand pytorch-ood our scores as "outlier scores" with the
    # ID samples labelled < 0
    flipped = _pytorch_ood_metrics(torch.as_tensor(outside), torch.as_tensor(inside))
    assert ood.fpr_at_tpr(inside, outside, positive="in") == pytest.approx(flipped["FPR95TPR"])


def test_the_two_fpr95_conventions_give_different_numbers_on_the_same_scores():
    inside, outside = _scores(0)
    id_positive = ood.fpr_at_tpr(inside, outside, positive="in")
    ood_positive = ood.fpr_at_tpr(inside, outside, positive="out")
    assert abs(id_positive - ood_positive) > 0.05, (id_positive, ood_positive)
    # with ID positive, FPR95 is the share of OOD that passes: 1 - detection rate
    threshold = ood.threshold_at_tpr(inside)
    assert id_positive == pytest.approx(1 - ood.detection_rate(outside, threshold))


def test_perfectly_separated_and_identical_scores():
    assert ood.auroc([2.0, 3.0], [0.0, 1.0]) == 1.0
    assert ood.fpr_at_tpr([2.0, 3.0], [0.0, 1.0]) == 0.0
    same = np.linspace(0, 1, 100)
    assert ood.auroc(same, same) == pytest.approx(0.5)


def test_ood_metrics_table_row():
    inside, outside = _scores(3)
    row = ood.ood_metrics(inside, outside)
    assert row["ID kept"] == 0.95 and row["flagged"] == pytest.approx(1 - row["FPR95"])
    assert set(row) == {"threshold", "ID kept", "flagged", "AUROC", "FPR95", "FPR95 (OOD +)"}


# --- data -------------------------------------------------------------------------------

def _dataset():
    labels = torch.tensor([0, 6, 3, 9, 6, 5, 3, 0])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 4, 4)
    classes = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
    return ImageDataset(images.contiguous(), labels, name="cifar10", split="test",
                        source="standin", description="fixed", classes=classes)


def test_leave_one_class_out_remaps_the_other_labels():
    kept, held = ood.leave_one_class_out(_dataset(), "frog")
    assert kept.labels.tolist() == [0, 3, 8, 5, 3, 0]
    assert kept.classes == ("airplane", "automobile", "bird", "cat", "deer", "dog",
                            "horse", "ship", "truck")
    assert [kept.classes[k] for k in kept.labels] == ["airplane", "cat", "truck", "dog",
                                                      "cat", "airplane"]
    assert kept.images[:, 0, 0, 0].tolist() == [0, 2, 3, 5, 6, 7]
    assert held.labels.tolist() == [6, 6] and held.images[:, 0, 0, 0].tolist() == [1, 4]
    by_index, _ = ood.leave_one_class_out(_dataset(), 3)
    assert "cat" not in by_index.classes and len(by_index) == 6


def test_leave_one_class_out_checks_its_arguments():
    with pytest.raises(ValueError, match="held_out"):
        ood.leave_one_class_out(_dataset(), "unicorn")
    with pytest.raises(ValueError, match="held_out"):
        ood.leave_one_class_out(_dataset(), 10)
    with pytest.raises(TypeError, match="dataset"):
        ood.leave_one_class_out([1, 2], "frog")


def test_uniform_noise_is_seeded_and_in_pixel_range():
    noise = ood.uniform_noise(5, seed=3)
    assert noise.shape == (5, 3, 32, 32) and 0 <= noise.min() and noise.max() <= 1
    assert torch.equal(noise, ood.uniform_noise(5, seed=3))


def test_classifier_normalizes_with_cifar_statistics():
    model = ood.build_classifier("small_cnn", 9, 8)
    assert model.fc.out_features == 9
    assert torch.allclose(model.normalize.mean.flatten(), torch.tensor(ood.CIFAR_MEAN))


# --- plots ------------------------------------------------------------------------------

def test_plots_draw(tmp_path):
    inside, outside = _scores(0)
    threshold = ood.threshold_at_tpr(inside)
    figure = ood_plots.inlier_fraction_curve(inside, threshold, {"frog": outside})
    figure.savefig(tmp_path / "curve.png")
    figure = ood_plots.score_histograms({"MSP": (inside, {"frog": outside})},
                                        {"MSP": threshold})
    figure.savefig(tmp_path / "hist.png")
    with pytest.raises(ValueError, match="scores"):
        ood_plots.score_histograms({}, {})
