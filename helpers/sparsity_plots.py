"""Figures of the sparsity chapter: density vs λ, weight histograms, attribution overlays,
SSD box plots, deletion and insertion curves."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import MaxNLocator

from helpers.plots import (BLUE, COLUMN_WIDTH, HEAT_MAP, MARKERS, PALETTE, SIGNED_MAP,
                           figure_legend, house_style, wrap)

REFERENCE = "#7f7f7f"  # the random-map baseline of the faithfulness curves


@house_style
def density_curve(table: pd.DataFrame) -> plt.Figure:
    """Accuracy and average density against λ (a :func:`helpers.sparsity.density_sweep`
    table); λ = 0 is drawn at the left edge of the log axis."""
    lambdas = np.asarray(table.index, dtype=float)
    positive = lambdas[lambdas > 0]
    floor = positive.min() / 10 if len(positive) else 1e-8
    x = np.where(lambdas > 0, lambdas, floor)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.4))
    ax.plot(x, table["accuracy"] * 100, "o-", label="test accuracy (%)")
    ax.plot(x, table["density"] * 100, "s-", label="average density (%)")
    ax.axhspan(0, 50, color="grey", alpha=0.1, label="sparse code (density ≤ 50 %)")
    ax.set_xscale("log")
    ax.set_xticks(x, ["0" if v == 0 else f"{v:g}" for v in lambdas])
    ax.set(xlabel="activation penalty λ", ylabel="%", ylim=(0, 100),
           title="activation penalty: density falls, accuracy stays")
    ax.grid(True)
    figure_legend(fig)
    return fig


@house_style
def weight_histograms(weights: Mapping[str, torch.Tensor | np.ndarray],
                      bins: int = 80) -> plt.Figure:
    """Histogram (log counts) of each model's weights ``{name: 1-D weights}``, e.g. the
    kernels of :func:`helpers.regularization.kernel_weights`, on one symmetric range."""
    if not weights:
        raise ValueError("weights: nothing to draw; pass {model name: 1-D weights}.")
    weights = {name: np.asarray(torch.as_tensor(values).detach().cpu()).ravel()
               for name, values in weights.items()}
    fig, axes = plt.subplots(1, len(weights), figsize=(COLUMN_WIDTH, 2.6), sharey=True)
    axes = np.atleast_1d(axes)
    edge = max(np.abs(w).max() for w in weights.values())
    for ax, (name, values) in zip(axes, weights.items()):
        ax.hist(values, bins=np.linspace(-edge, edge, bins), color=BLUE)
        ax.set_yscale("log")
        ax.set(title=name, xlabel="weight")
        ax.xaxis.set_major_locator(MaxNLocator(3))  # readable ticks in a narrow panel
    axes[0].set_ylabel("count")
    return fig


@house_style
def overlays(images: torch.Tensor, columns: Mapping[str, torch.Tensor],
             row_titles: Sequence[str] | None = None, title: str | None = None) -> plt.Figure:
    """One row per image: the image, then each map of ``columns`` ({title: (N, H, W)})
    drawn over it (maps in [0, 1]). A column whose title starts with "Δ" is drawn as a
    signed map in [-1, 1] (red: the first map is higher, blue: the second) without the
    image. Colour bars on the right give the scale of each kind of map."""
    images = images.detach().cpu()
    count = len(images)
    ncols = 1 + len(columns)
    panel = (COLUMN_WIDTH - 1.3) / ncols  # the colour bars take about 1.3 in
    fig, axes = plt.subplots(count, ncols, squeeze=False,
                             figsize=(COLUMN_WIDTH, count * (panel + 0.1) + 0.9))
    shown = {}
    for row in range(count):
        picture = images[row].permute(1, 2, 0).clamp(0, 1).numpy()
        axes[row, 0].imshow(picture)
        if row_titles is not None:
            axes[row, 0].set_ylabel(wrap(row_titles[row]))
        for col, (name, maps) in enumerate(columns.items(), start=1):
            values = maps[row].detach().cpu().numpy()
            ax = axes[row, col]
            if name.startswith("Δ"):
                shown["Δ"] = ax.imshow(values, cmap=SIGNED_MAP, vmin=-1, vmax=1)
            else:
                ax.imshow(picture)
                shown["map"] = ax.imshow(values, cmap=HEAT_MAP, alpha=0.6, vmin=0, vmax=1)
            if row == 0:
                ax.set_title(wrap(name, 9))
    axes[0, 0].set_title("image")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    labels = {"map": "attribution", "Δ": "difference"}
    for kind, image in shown.items():
        bar = fig.colorbar(image, ax=axes, shrink=0.8, aspect=30, pad=0.02)
        bar.set_label(labels[kind])
    if title:
        fig.suptitle(title)
    return fig


@house_style
def ssd_boxplot(per_image: Mapping[str, Mapping[str, np.ndarray]]) -> plt.Figure:
    """Box plots of the per-image SSD, one panel per attribution, one box per model."""
    rows = list(next(iter(per_image.values())))
    fig, axes = plt.subplots(1, len(rows), figsize=(COLUMN_WIDTH, 3.0))
    axes = np.atleast_1d(axes)
    for ax, row in zip(axes, rows):
        ax.boxplot([per_image[name][row] for name in per_image], showmeans=True)
        ax.set_xticks(range(1, len(per_image) + 1), list(per_image))
        ax.set(title=row, ylabel="SSD per image (lower: more stable)")
        ax.grid(True, axis="y")
    return fig


@house_style
def faithfulness_curves(curves: Mapping[str, pd.DataFrame], reference: str = "random",
                        title: str | None = None) -> plt.Figure:
    """Mean deletion and insertion curves, one panel each: ``{"deletion" | "insertion":
    table}`` indexed by the fraction of pixels, one column per method, values the mean
    probability of the explained class in [0, 1] (:func:`helpers.sparsity.mean_deletion_curves`).
    The ``reference`` column (the random map) is drawn as a grey dashed line."""
    if not curves:
        raise ValueError("curves: nothing to draw; pass {mode: table of mean curves}.")
    fig, axes = plt.subplots(1, len(curves), figsize=(COLUMN_WIDTH, 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (mode, table) in zip(axes, curves.items()):
        fractions = np.asarray(table.index, dtype=float) * 100
        others = [column for column in table.columns if column != reference]
        for index, method in enumerate(others):
            ax.plot(fractions, table[method], color=PALETTE[index % len(PALETTE)],
                    marker=MARKERS[index % len(MARKERS)], markersize=3.5, markevery=2,
                    label=method)
        if reference in table.columns:  # grey: the palette's black is a method's colour
            ax.plot(fractions, table[reference], color=REFERENCE, linestyle="--", linewidth=2,
                    label=f"{reference} map")
        better = "low" if mode == "deletion" else "high"
        ax.set(xlabel=f"pixels {'deleted' if mode == 'deletion' else 'inserted'} (%)",
               title=f"{mode} (faithful: {better} curve)", xlim=(0, 100), ylim=(0, 1))
        ax.grid(True)
    axes[0].set_ylabel("probability of the class")
    figure_legend(fig, ncols=4)
    if title:
        fig.suptitle(title)
    return fig
