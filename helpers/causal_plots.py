"""Figures of the causal chapter: CAM next to the causal effect map, the detector's ROC."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def maps_figure(images: Mapping[str, torch.Tensor], maps: Mapping[str, Mapping[str, torch.Tensor]],
                titles: Sequence[str] | None = None) -> plt.Figure:
    """One row per input kind (``images``: {kind: (N, 1, H, W)}), columns: the image, then
    each map of ``maps`` ({map name: {kind: (N, H, W)}}) overlaid, for the first N images.

    Each map is scaled to its own maximum |value| per image (maps are compared by shape).
    """
    kinds = list(images)
    count = len(next(iter(images.values())))
    columns = 1 + len(maps)
    fig, axes = plt.subplots(len(kinds) * count, columns,
                             figsize=(2.1 * columns, 2.1 * len(kinds) * count), squeeze=False)
    for k, kind in enumerate(kinds):
        for i in range(count):
            row = axes[k * count + i]
            picture = images[kind][i, 0].numpy()
            row[0].imshow(picture, cmap="gray", vmin=0, vmax=1)
            row[0].set_ylabel(titles[i] if titles else kind, fontsize=8)
            if k * count + i == 0:
                row[0].set_title("input")
            for c, (name, by_kind) in enumerate(maps.items(), start=1):
                heat = by_kind[kind][i].numpy()
                scale = np.abs(heat).max() or 1.0
                row[c].imshow(picture, cmap="gray", vmin=0, vmax=1)
                row[c].imshow(heat / scale, cmap="coolwarm", vmin=-1, vmax=1, alpha=0.6)
                if k * count + i == 0:
                    row[c].set_title(name)
            row[0].text(-0.35, 0.5, kind, transform=row[0].transAxes, rotation=90,
                        va="center", fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    fig.tight_layout()
    return fig


def roc_figure(curves: Mapping[str, dict], title: str = "CE-based detector") -> plt.Figure:
    """ROC curves ``{name: {"fpr", "tpr", "auroc"}}`` with the chance diagonal."""
    fig, axis = plt.subplots(figsize=(4.4, 4))
    for name, curve in curves.items():
        axis.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUROC {curve['auroc']:.2f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axis.set_xlabel("false positive rate (clean flagged)")
    axis.set_ylabel("true positive rate (adversarial flagged)")
    axis.set_title(title)
    axis.legend(fontsize=8)
    fig.tight_layout()
    return fig


def effect_bins_figure(results: Mapping[str, dict], title: str = "") -> plt.Figure:
    """Mean effect per activation bin and the bin weights, per evidence set.

    ``results``: {name: the dict of :func:`helpers.causal.expected_causal_effect`}.
    """
    fig, (effect_axis, weight_axis) = plt.subplots(1, 2, figsize=(9, 3.2))
    for name, result in results.items():
        centres = (result["edges"][:-1] + result["edges"][1:]) / 2
        effect_axis.plot(centres, result["bin_effects"], marker="o", label=name)
        weight_axis.plot(centres, result["weights"], marker="o", label=name)
    effect_axis.axhline(0, color="grey", linewidth=0.8)
    effect_axis.set_xlabel("observed activation (bin centre)")
    effect_axis.set_ylabel("Effect(b): Δ P(class)")
    weight_axis.set_xlabel("observed activation (bin centre)")
    weight_axis.set_ylabel("P(X ∈ b | Z)")
    effect_axis.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
