"""Chapter 5 (OOD detection): scores, the 95 %-TPR threshold, metrics, leave-one-class-out.

Conventions, used everywhere in this module:

- A **score** is higher for inputs that look more *in-distribution* (ID): the maximum
  softmax probability (MSP) and the negative energy. (pytorch-ood returns *outlier*
  scores, higher = more OOD: the same numbers with the sign flipped.)
- A sample is an **inlier** when its score is ``>= threshold`` and **flagged** as an
  outlier when its score is ``< threshold``.
- The threshold is chosen on ID scores only (:func:`threshold_at_tpr`); the share of ID
  samples it keeps is the true-positive rate (TPR) with ID as the positive class.
- :func:`auroc` and :func:`fpr_at_tpr` take ``positive="in"`` (default: ID is the
  positive class) or ``positive="out"`` (OOD is positive, pytorch-ood's and OpenOOD's
  convention). AUROC is the same under both; FPR at 95 % TPR is not.

Scores are 1-D tensors or arrays; they are returned and compared as float64 NumPy.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy.stats import rankdata
from torchvision.transforms import v2

from helpers.checks import check_fraction, check_positive_int
from helpers.data import ImageDataset
from helpers.models import Classifier, Normalize, build_model

CIFAR_MEAN, CIFAR_STD = (0.491, 0.482, 0.446), (0.247, 0.243, 0.262)
POSITIVES = ("in", "out")


# --- scores ---------------------------------------------------------------------------

def _check_logits(logits: torch.Tensor, temperature: float) -> None:
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits: expected a tensor (N, K) with K >= 2, got "
                         f"{getattr(logits, 'shape', type(logits).__name__)}.")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r}: expected a positive number.")


def msp_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Maximum softmax probability ``max_k softmax(logits / T)_k``: (N,) in [1/K, 1].

    Higher = more in-distribution (Hendrycks & Gimpel 2017). pytorch-ood's ``MaxSoftmax``
    returns the negative of this.
    """
    _check_logits(logits, temperature)
    return torch.softmax(logits / temperature, dim=1).max(dim=1).values


def energy_score(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Negative energy ``T · logsumexp(logits / T)``: (N,), unbounded.

    Higher = more in-distribution (Liu et al. 2020). The energy is
    ``E(x) = -T log Σ_k exp(f_k(x) / T)``; pytorch-ood's ``EnergyBased`` returns E(x).
    """
    _check_logits(logits, temperature)
    return temperature * torch.logsumexp(logits / temperature, dim=1)


SCORES = {"MSP": msp_score, "energy": energy_score}


# --- threshold and rates ----------------------------------------------------------------

def as_scores(name: str, scores) -> np.ndarray:
    """``scores`` (a 1-D tensor, array or list) as a float64 NumPy array (N,), N >= 1.

    Raises ``ValueError`` naming the argument ``name`` when the scores are not 1-D,
    empty or contain NaN. Every function taking scores, here and in
    :mod:`helpers.ood_plots`, reads them through this check.
    """
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().cpu().numpy()
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array of scores, "
                         f"got shape {values.shape}.")
    if np.isnan(values).any():
        raise ValueError(f"{name}: contains NaN.")
    return values


def threshold_at_tpr(in_scores, tpr: float = 0.95) -> float:
    """The threshold that keeps at least ``tpr`` of the ID scores as inliers.

    With the ``n`` ID scores sorted in decreasing order, the threshold is the
    ``k``-th largest one, ``k = ceil(tpr · n)``: the largest threshold with
    ``mean(in_scores >= threshold) >= tpr``. Without ties at that score exactly ``k``
    samples are kept, i.e. ``tpr`` rounded up to the next sample; scores tied with it
    are all kept (ties never split). This is the threshold at which pytorch-ood's
    FPR@TPR reads its ROC curve, with ID as the positive class.
    """
    values = as_scores("in_scores", in_scores)
    check_fraction("tpr", tpr, low_open=True)
    k = max(1, math.ceil(tpr * len(values) - 1e-9))  # 0.55 * 100 = 55.00000000000001
    return float(np.sort(values)[len(values) - k])


def inlier_fraction(scores, thresholds) -> np.ndarray:
    """Share of ``scores`` that are ``>= t`` for each threshold ``t``: same shape as ``thresholds``."""
    values = np.sort(as_scores("scores", scores))
    thresholds = np.asarray(thresholds, dtype=np.float64)
    below = np.searchsorted(values, thresholds, side="left")
    return (len(values) - below) / len(values)


def detection_rate(out_scores, threshold: float) -> float:
    """Share of OOD ``out_scores`` flagged as outliers (score ``< threshold``), in [0, 1]."""
    values = as_scores("out_scores", out_scores)
    if not isinstance(threshold, (int, float, np.floating)) or math.isnan(threshold):
        raise ValueError(f"threshold={threshold!r}: expected a number.")
    return float((values < threshold).mean())


def _positives(in_scores, out_scores, positive: str) -> tuple[np.ndarray, np.ndarray]:
    """(positive-class scores, negative-class scores), both oriented higher = positive."""
    if positive not in POSITIVES:
        raise ValueError(f"positive={positive!r}: expected 'in' (ID is the positive "
                         f"class) or 'out' (OOD is the positive class).")
    inside, outside = as_scores("in_scores", in_scores), as_scores("out_scores", out_scores)
    return (inside, outside) if positive == "in" else (-outside, -inside)


def auroc(in_scores, out_scores, positive: str = "in") -> float:
    """Area under the ROC curve: P(a random positive outranks a random negative), ties ½.

    Equals ``sklearn.metrics.roc_auc_score``; 0.5 is chance, 1 perfect separation. The
    value is the same for ``positive="in"`` and ``"out"`` (swapping the classes and the
    direction of the score changes nothing); the switch is there for symmetry.
    """
    positives, negatives = _positives(in_scores, out_scores, positive)
    ranks = rankdata(np.concatenate([positives, negatives]))  # average ranks for ties
    n_pos, n_neg = len(positives), len(negatives)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fpr_at_tpr(in_scores, out_scores, tpr: float = 0.95, positive: str = "in") -> float:
    """False-positive rate when the threshold keeps ``tpr`` of the positive class.

    ``positive="in"`` (default, this course): the threshold keeps 95 % of ID samples
    (:func:`threshold_at_tpr`); the FPR is the share of OOD samples that still pass as
    inliers, i.e. ``1 - detection_rate``. ``positive="out"`` (pytorch-ood, OpenOOD): the
    threshold flags 95 % of the OOD samples; the FPR is the share of ID samples flagged
    too. The two answer different questions and generally differ.
    """
    positives, negatives = _positives(in_scores, out_scores, positive)
    threshold = threshold_at_tpr(positives, tpr)
    return float((negatives >= threshold).mean())


def ood_metrics(in_scores, out_scores, tpr: float = 0.95) -> dict[str, float]:
    """All numbers of the chapter's table for one score and one OOD set (ID positive).

    ``threshold``; ``ID kept``: share of ID scores kept (≈ tpr); ``flagged``: share of
    OOD flagged at that threshold; ``AUROC``; ``FPR95``: OOD passing as inliers (ID
    positive); ``FPR95 (OOD +)``: pytorch-ood's convention, for comparison.
    """
    threshold = threshold_at_tpr(in_scores, tpr)
    return {"threshold": threshold,
            "ID kept": float(inlier_fraction(in_scores, [threshold])[0]),
            "flagged": detection_rate(out_scores, threshold),
            "AUROC": auroc(in_scores, out_scores),
            "FPR95": fpr_at_tpr(in_scores, out_scores, tpr, positive="in"),
            "FPR95 (OOD +)": fpr_at_tpr(in_scores, out_scores, tpr, positive="out")}


# --- leave one class out ------------------------------------------------------------------

class Split(NamedTuple):
    """The two parts of :func:`leave_one_class_out`: ``kept`` (the other classes,
    relabelled 0..K-2) and ``held`` (the held-out class, original labels)."""
    kept: ImageDataset
    held: ImageDataset


def leave_one_class_out(dataset: ImageDataset, held_out: str | int) -> Split:
    """Split ``dataset`` into ``Split(kept=the other classes, held=the held-out class)``.

    The first keeps its images in order with labels remapped to 0..K-2 and ``classes``
    without the held-out name; the second keeps the original labels and classes.
    ``held_out`` is a class name (``"frog"``) or index.
    """
    if not isinstance(dataset, ImageDataset):
        raise TypeError(f"dataset: expected an ImageDataset, got {type(dataset).__name__}.")
    names = list(dataset.classes)
    if isinstance(held_out, str):
        if held_out not in names:
            raise ValueError(f"held_out={held_out!r}: expected one of {', '.join(names)}.")
        held_out = names.index(held_out)
    if not isinstance(held_out, int) or not 0 <= held_out < len(names):
        raise ValueError(f"held_out={held_out!r}: expected a class name or 0..{len(names) - 1}.")
    out = dataset.labels == held_out
    remap = torch.tensor([k - (k > held_out) for k in range(len(names))])
    kept = ImageDataset(dataset.images[~out], remap[dataset.labels[~out]],
                        name=dataset.name, split=dataset.split, source=dataset.source,
                        description=f"{dataset.description}, without {names[held_out]}",
                        classes=tuple(n for k, n in enumerate(names) if k != held_out),
                        transform=dataset.transform)
    held = ImageDataset(dataset.images[out], dataset.labels[out], name=dataset.name,
                        split=dataset.split, source=dataset.source,
                        description=f"{dataset.description}, only {names[held_out]}",
                        classes=dataset.classes)
    return Split(kept, held)


def uniform_noise(count: int, shape=(3, 32, 32), seed: int = 0) -> torch.Tensor:
    """``count`` images of i.i.d. uniform pixels in [0, 1]: (count, *shape), a far-OOD set."""
    check_positive_int("count", count)
    return torch.rand((count, *shape), generator=torch.Generator().manual_seed(seed))


def cifar_augmentation() -> v2.Compose:
    """The reports' CIFAR-10 augmentation: random 32×32 crop of a 4-px padded image, h-flip."""
    return v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])


def build_classifier(model: str, num_classes: int, width: float) -> Classifier:
    """:func:`helpers.models.build_model` with CIFAR-10's mean/std normalization inside."""
    classifier = build_model(model, num_classes, width)
    classifier.normalize = Normalize(CIFAR_MEAN, CIFAR_STD)
    return classifier
