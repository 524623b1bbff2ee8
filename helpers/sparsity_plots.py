"""Figures of the sparsity chapter: density vs λ, weight histograms, attribution overlays."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch


def density_curve(table: pd.DataFrame) -> plt.Figure:
    """Accuracy and average density against λ (a :func:`helpers.sparsity.density_sweep`
    table); λ = 0 is drawn at the left edge of the log axis."""
    lambdas = np.asarray(table.index, dtype=float)
    positive = lambdas[lambdas > 0]
    floor = positive.min() / 10 if len(positive) else 1e-8
    x = np.where(lambdas > 0, lambdas, floor)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(x, table["accuracy"] * 100, "o-", label="test accuracy (%)")
    ax.plot(x, table["density"] * 100, "s-", label="average density (%)")
    ax.axhspan(0, 50, color="grey", alpha=0.1, label="sparse code (density ≤ 50 %)")
    ax.set_xscale("log")
    ax.set_xticks(x, ["0" if v == 0 else f"{v:g}" for v in lambdas])
    ax.set(xlabel="activation penalty λ", ylabel="%", ylim=(0, 100),
           title="activation penalty: density falls, accuracy stays")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def weight_histograms(weights: Mapping[str, torch.Tensor | np.ndarray],
                      bins: int = 80) -> plt.Figure:
    """Histogram (log counts) of each model's weights ``{name: 1-D weights}``, e.g. the
    kernels of :func:`helpers.regularization.kernel_weights`, on one symmetric range."""
    if not weights:
        raise ValueError("weights: nothing to draw; pass {model name: 1-D weights}.")
    weights = {name: np.asarray(torch.as_tensor(values).detach().cpu()).ravel()
               for name, values in weights.items()}
    fig, axes = plt.subplots(1, len(weights), figsize=(3 * len(weights), 2.8), sharey=True)
    axes = np.atleast_1d(axes)
    edge = max(np.abs(w).max() for w in weights.values())
    for ax, (name, values) in zip(axes, weights.items()):
        ax.hist(values, bins=np.linspace(-edge, edge, bins), color="tab:blue")
        ax.set_yscale("log")
        ax.set(title=name, xlabel="weight")
    axes[0].set_ylabel("count")
    fig.tight_layout()
    return fig


def overlays(images: torch.Tensor, columns: Mapping[str, torch.Tensor],
             row_titles: Sequence[str] | None = None, title: str | None = None) -> plt.Figure:
    """One row per image: the image, then each map of ``columns`` ({title: (N, H, W)})
    drawn over it. A column whose title starts with "Δ" is drawn as a signed map
    (red: the first map is higher, blue: the second) without the image."""
    images = images.detach().cpu()
    count = len(images)
    fig, axes = plt.subplots(count, 1 + len(columns),
                             figsize=(1.7 * (1 + len(columns)), 1.75 * count), squeeze=False)
    for row in range(count):
        picture = images[row].permute(1, 2, 0).clamp(0, 1).numpy()
        axes[row, 0].imshow(picture)
        if row_titles is not None:
            axes[row, 0].set_ylabel(row_titles[row], fontsize="small")
        for col, (name, maps) in enumerate(columns.items(), start=1):
            values = maps[row].detach().cpu().numpy()
            ax = axes[row, col]
            if name.startswith("Δ"):
                ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
            else:
                ax.imshow(picture)
                ax.imshow(values, cmap="jet", alpha=0.5, vmin=0, vmax=1)
            if row == 0:
                ax.set_title(name, fontsize="small")
    axes[0, 0].set_title("image", fontsize="small")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def ssd_boxplot(per_image: Mapping[str, Mapping[str, np.ndarray]]) -> plt.Figure:
    """Box plots of the per-image SSD, one panel per attribution, one box per model."""
    rows = list(next(iter(per_image.values())))
    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 3.4))
    axes = np.atleast_1d(axes)
    for ax, row in zip(axes, rows):
        ax.boxplot([per_image[name][row] for name in per_image], showmeans=True)
        ax.set_xticks(range(1, len(per_image) + 1), list(per_image))
        ax.set(title=f"{row}: SSD per image (lower = more stable)", ylabel="SSD")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
