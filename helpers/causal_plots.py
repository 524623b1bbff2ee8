"""Figures of the causal chapter: CAM next to the causal effect map, the detector's ROC."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from helpers.plots import COLUMN_WIDTH, MARKERS, SIGNED_MAP, figure_legend, house_style


@house_style
def maps_figure(images: Mapping[str, torch.Tensor], maps: Mapping[str, Mapping[str, torch.Tensor]],
                titles: Sequence[str] | None = None) -> plt.Figure:
    """Each of the first N images under every input kind (``images``: {kind: (N, 1, H, W)})
    in a column — image i's kinds side by side — and rows: the input, then each map of
    ``maps`` ({map name: {kind: (N, H, W)}}) overlaid on it.

    Each map is scaled to its own maximum |value| per image (maps are compared by shape);
    a colour bar gives that signed scale. ``titles`` names the N images (e.g. classes).
    """
    kinds = list(images)
    count = len(next(iter(images.values())))
    columns = [(i, kind) for i in range(count) for kind in kinds]
    rows = 1 + len(maps)
    panel = (COLUMN_WIDTH - 0.9) / len(columns)   # the colour bar takes about 0.9 in
    fig, axes = plt.subplots(rows, len(columns), squeeze=False,
                             figsize=(COLUMN_WIDTH, rows * (panel + 0.05) + 0.6))
    for c, (i, kind) in enumerate(columns):
        picture = images[kind][i, 0].numpy()
        axes[0, c].imshow(picture, cmap="gray", vmin=0, vmax=1)
        axes[0, c].set_title(f"{titles[i]}\n{kind}" if titles else kind)
        for r, (name, by_kind) in enumerate(maps.items(), start=1):
            heat = by_kind[kind][i].numpy()
            scale = np.abs(heat).max() or 1.0
            axes[r, c].imshow(picture, cmap="gray", vmin=0, vmax=1)
            overlay = axes[r, c].imshow(heat / scale, cmap=SIGNED_MAP, vmin=-1, vmax=1,
                                        alpha=0.65)
    for r, name in enumerate(["input", *maps]):
        axes[r, 0].set_ylabel(name)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    if maps:
        bar = fig.colorbar(overlay, ax=axes, shrink=0.8, aspect=25, pad=0.02)
        bar.set_label("map / its max |value|")
    return fig


@house_style
def roc_figure(curves: Mapping[str, dict], title: str = "CE-based detector") -> plt.Figure:
    """ROC curves ``{name: {"fpr", "tpr", "auroc"}}`` (colour and dash per curve) with the
    chance diagonal; the legend sits below the axes."""
    fig, axis = plt.subplots(figsize=(4.6, 4.4))
    for index, (name, curve) in enumerate(curves.items()):
        axis.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUROC {curve['auroc']:.2f})",
                  linestyle=("-", "--", "-.")[index % 3])
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axis.set_xlabel("false positive rate (clean flagged)")
    axis.set_ylabel("true positive rate (adversarial flagged)")
    axis.set_title(title)
    axis.set_aspect("equal")
    figure_legend(fig, ncols=2)
    return fig


@house_style
def effect_bins_figure(results: Mapping[str, dict], title: str = "") -> plt.Figure:
    """Mean effect per activation bin and the bin weights, per evidence set.

    ``results``: {name: the dict of :func:`helpers.causal.expected_causal_effect`}.
    """
    fig, (effect_axis, weight_axis) = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.0))
    for index, (name, result) in enumerate(results.items()):
        centres = (result["edges"][:-1] + result["edges"][1:]) / 2
        marker = MARKERS[index % len(MARKERS)]
        effect_axis.plot(centres, result["bin_effects"], marker=marker, label=name)
        weight_axis.plot(centres, result["weights"], marker=marker, label=name)
    effect_axis.axhline(0, color="grey", linewidth=0.8)
    effect_axis.set_xlabel("observed activation\n(bin centre)")
    effect_axis.set_ylabel("Effect(b): Δ P(class)")
    weight_axis.set_xlabel("observed activation\n(bin centre)")
    weight_axis.set_ylabel("P(X ∈ b | Z)")
    figure_legend(fig)
    if title:
        fig.suptitle(title)
    return fig
