"""Chapter 4 (backdoors): figures of poisoned data, triggered predictions and latent space.

They take data, predictions and scores, never a model."""

from __future__ import annotations

import math
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from helpers.plots import (BLACK, BLUE, COLUMN_WIDTH, HIGHLIGHT, MARKERS, MIN_FONT, PALETTE,
                           figure_legend, house_style)


def _show(ax, image: torch.Tensor) -> None:
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


@house_style
def poisoned_grid(data, count: int = 12, ncols: int = 6, seed: int = 0) -> plt.Figure:
    """Training samples of a PoisonedDataset, half of them poisoned, with their (training)
    labels; a poisoned one has a thick vermillion frame and says "poisoned" in its title."""
    if not hasattr(data, "poisoned"):
        raise TypeError("data: expected a PoisonedDataset.")
    if not isinstance(count, int) or count < 2:
        raise ValueError(f"count={count!r}: expected an int >= 2.")
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for group, share in ((data.poisoned, count // 2), (~data.poisoned, count - count // 2)):
        members = torch.nonzero(group).flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:share]])
    order = torch.cat(picks)[torch.randperm(sum(len(p) for p in picks), generator=generator)]
    nrows = math.ceil(len(order) / ncols)
    panel = COLUMN_WIDTH / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, nrows * (panel + 0.45) + 0.3),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, order.tolist()):
        ax.axis("on")
        _show(ax, data.images[index].float() / 255)
        poisoned = bool(data.poisoned[index])
        label = data.classes[int(data.labels[index])]
        ax.set_title(f"label: {label}" + ("\n(poisoned)" if poisoned else "\n"),
                     fontsize=MIN_FONT, color=HIGHLIGHT if poisoned else BLACK)
        for spine in ax.spines.values():
            spine.set(edgecolor=HIGHLIGHT if poisoned else "lightgrey",
                      linewidth=3 if poisoned else 0.5)
    fig.suptitle("training samples (framed: poisoned — trigger stamped, relabelled)")
    return fig


@house_style
def triggered_predictions(rows: Mapping[str, tuple], classes) -> plt.Figure:
    """One row of images per ``{row name: (images (N, 3, H, W) in [0, 1], probabilities
    (N, K))}`` (e.g. clean, then with the trigger), each titled with its predicted class
    and confidence."""
    if not rows:
        raise ValueError("rows is empty: pass {row name: (images, probabilities)}.")
    counts = {len(images) for images, _ in rows.values()}
    counts |= {len(probabilities) for _, probabilities in rows.values()}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(f"rows: expected the same number N >= 1 of images and probabilities "
                         f"in every row, got {sorted(counts)}.")
    width = counts.pop()
    panel = COLUMN_WIDTH / width
    fig, axes = plt.subplots(len(rows), width, squeeze=False,
                             figsize=(COLUMN_WIDTH, len(rows) * (panel + 0.25) + 0.3))
    for row, (name, (images, probabilities)) in enumerate(rows.items()):
        probabilities = torch.as_tensor(probabilities)
        for ax, image, p in zip(axes[row], torch.as_tensor(images), probabilities):
            _show(ax, image)
            k = int(p.argmax())
            ax.set_title(f"{classes[k]} {p[k]:.0%}", fontsize=MIN_FONT)
        axes[row, 0].set_ylabel(name)
    fig.suptitle(f"prediction and confidence: {' vs '.join(rows)}")
    return fig


@house_style
def score_histograms(scores: Mapping[str, tuple], bins: int = 30,
                     xlabel: str = "spectral score") -> plt.Figure:
    """One panel per run: ``{run: (scores (N,), poisoned bool (N,))}``; clean vs poisoned
    score histograms (densities), on the target class only when the caller passes it.
    Clean is filled, poisoned an outline (told apart without colour); one legend below."""
    if not scores:
        raise ValueError("scores is empty: pass {run: (scores, poisoned)}.")
    fig, axes = plt.subplots(1, len(scores), figsize=(COLUMN_WIDTH, 3.0), squeeze=False)
    for ax, (name, (values, poisoned)) in zip(axes[0], scores.items()):
        values, poisoned = np.asarray(values), np.asarray(poisoned, dtype=bool)
        edges = np.histogram_bin_edges(values, bins=bins)
        ax.hist(values[~poisoned], edges, density=True, alpha=0.6, color=BLUE, label="clean")
        ax.hist(values[poisoned], edges, density=True, histtype="step", linewidth=2,
                color=HIGHLIGHT, label="poisoned")
        ax.set(title=name, xlabel=xlabel, ylabel="density")
    figure_legend(fig)
    return fig


@house_style
def latent_projection(runs: Mapping[str, tuple], classes) -> plt.Figure:
    """PCA of latents to 2-D, one panel per run: ``{run: (latents (N, D), labels (N,),
    poisoned bool (N,))}``; clean points by class (colour and marker), poisoned samples
    as vermillion crosses; one legend below the panels."""
    from sklearn.decomposition import PCA

    if not runs:
        raise ValueError("runs is empty: pass {run: (latents, labels, poisoned)}.")
    fig, axes = plt.subplots(1, len(runs), figsize=(COLUMN_WIDTH, 3.6), squeeze=False)
    for ax, (name, (z, labels, poisoned)) in zip(axes[0], runs.items()):
        z, labels = np.asarray(z), np.asarray(labels)
        poisoned = np.asarray(poisoned, dtype=bool)
        points = PCA(2, random_state=0).fit_transform(z - z.mean(0))
        for k, label in enumerate(classes):
            chosen = (labels == k) & ~poisoned
            ax.scatter(*points[chosen].T, s=8, alpha=0.5, label=f"clean {label}",
                       color=PALETTE[k % len(PALETTE)], marker=MARKERS[k % len(MARKERS)],
                       linewidths=0)
        ax.scatter(*points[poisoned].T, s=14, color=HIGHLIGHT, marker="x",
                   label=f"poisoned (labelled {classes[int(labels[poisoned][0])]})"
                   if poisoned.any() else "poisoned")
        ax.set(title=name, xlabel="PC 1", ylabel="PC 2")
    figure_legend(fig, markerscale=2)
    return fig
