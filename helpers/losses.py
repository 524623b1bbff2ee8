"""Losses written out for teaching (each is checked against a library in the tests)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def smoothed_targets(targets: torch.Tensor, num_classes: int, alpha: float) -> torch.Tensor:
    """Label-smoothed targets ``(1 - alpha)·onehot + alpha / K``: (N,) ints → (N, K) rows summing to 1."""
    onehot = F.one_hot(targets, num_classes).float()
    return (1.0 - alpha) * onehot + alpha / num_classes


def label_smoothing_cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                                  alpha: float = 0.1) -> torch.Tensor:
    """Mean cross-entropy between softmax(logits) and label-smoothed targets.

    ``logits``: (N, K); ``targets``: (N,) class indices in [0, K); ``alpha`` in [0, 1).
    Equals ``F.cross_entropy(logits, targets, label_smoothing=alpha)``.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits: expected shape (N, K), got {tuple(logits.shape)}.")
    if targets.shape != logits.shape[:1]:
        raise ValueError(f"targets: expected shape ({logits.shape[0]},), got {tuple(targets.shape)}.")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha={alpha!r}: expected a value in [0, 1).")
    num_classes = logits.shape[1]
    if targets.numel() and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(f"targets: class indices must lie in [0, {num_classes}).")
    soft = smoothed_targets(targets, num_classes, alpha)
    return -(soft * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


class LabelSmoothingCrossEntropy(nn.Module):
    """:func:`label_smoothing_cross_entropy` as a loss module (``alpha`` fixed at creation)."""

    def __init__(self, alpha: float = 0.1):
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha={alpha!r}: expected a value in [0, 1).")
        self.alpha = alpha

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return label_smoothing_cross_entropy(logits, targets, self.alpha)
