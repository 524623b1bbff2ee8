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


def circle_loss(embeddings: torch.Tensor, labels: torch.Tensor, m: float = 0.4,
                gamma: float = 80.0) -> torch.Tensor:
    """Circle loss (Sun et al. 2020) on the pairs of a batch, with cosine similarity.

    ``embeddings``: (N, D) (normalized here); ``labels``: (N,) ints. For each anchor i,
    with positive similarities s_p (same label, j ≠ i) and negative ones s_n:

        α_p = [1 + m - s_p]₊,  α_n = [s_n + m]₊   (weights, not differentiated)
        L_i = softplus(logsumexp(-γ α_p (s_p - (1 - m))) + logsumexp(γ α_n (s_n - m)))

    so similarities far from their optimum (1 + m for positives, -m for negatives) are
    pushed hardest. The result is the mean of L_i over anchors with a non-zero loss
    (anchors without a positive or a negative pair count as zero), as in
    pytorch-metric-learning's ``CircleLoss(m, gamma)``. ``m`` is the relaxation margin,
    ``gamma`` the scale.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings: expected shape (N, D), got {tuple(embeddings.shape)}.")
    if labels.shape != embeddings.shape[:1]:
        raise ValueError(f"labels: expected shape ({len(embeddings)},), got {tuple(labels.shape)}.")
    if not 0 <= m < 1:
        raise ValueError(f"m={m!r}: expected a margin in [0, 1).")
    if gamma <= 0:
        raise ValueError(f"gamma={gamma!r}: expected a positive scale.")
    unit = F.normalize(embeddings, dim=1)
    similarity = unit @ unit.T
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    negative = ~same
    alpha_p = torch.relu(1 + m - similarity.detach())
    alpha_n = torch.relu(similarity.detach() + m)
    logits_p = (-gamma * alpha_p * (similarity - (1 - m))).masked_fill(~positive, -torch.inf)
    logits_n = (gamma * alpha_n * (similarity - m)).masked_fill(~negative, -torch.inf)
    valid = positive.any(1) & negative.any(1)
    losses = F.softplus(torch.logsumexp(logits_p[valid], 1) + torch.logsumexp(logits_n[valid], 1))
    nonzero = losses[losses > 0]
    return nonzero.mean() if len(nonzero) else embeddings.sum() * 0.0


class CircleLoss(nn.Module):
    """:func:`circle_loss` as a loss module on (embeddings, labels)."""

    def __init__(self, m: float = 0.4, gamma: float = 80.0):
        super().__init__()
        if not 0 <= m < 1:
            raise ValueError(f"m={m!r}: expected a margin in [0, 1).")
        if gamma <= 0:
            raise ValueError(f"gamma={gamma!r}: expected a positive scale.")
        self.m, self.gamma = m, gamma

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return circle_loss(embeddings, labels, self.m, self.gamma)
