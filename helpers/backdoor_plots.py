"""Chapter 4 (backdoors): figures of poisoned data, triggered predictions and latent space.

They take data, predictions and scores, never a model."""

from __future__ import annotations

import math
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch



def _show(ax, image: torch.Tensor) -> None:
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def poisoned_grid(data, count: int = 16, ncols: int = 8, seed: int = 0) -> plt.Figure:
    """Training samples of a PoisonedDataset, half of them poisoned, with their (training)
    labels; the poisoned ones are outlined in red."""
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
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.6 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, order.tolist()):
        ax.axis("on")
        _show(ax, data.images[index].float() / 255)
        poisoned = bool(data.poisoned[index])
        ax.set_title(f"label: {data.classes[int(data.labels[index])]}", fontsize=9,
                     color="tab:red" if poisoned else "black")
        for spine in ax.spines.values():
            spine.set(edgecolor="tab:red" if poisoned else "lightgrey",
                      linewidth=3 if poisoned else 0.5)
    fig.suptitle("training samples (red frame: poisoned — trigger stamped, relabelled)")
    fig.tight_layout()
    return fig


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
    fig, axes = plt.subplots(len(rows), width, figsize=(1.5 * width, 1.8 * len(rows)),
                             squeeze=False)
    for row, (name, (images, probabilities)) in enumerate(rows.items()):
        probabilities = torch.as_tensor(probabilities)
        for ax, image, p in zip(axes[row], torch.as_tensor(images), probabilities):
            _show(ax, image)
            k = int(p.argmax())
            ax.set_title(f"{classes[k]} {p[k]:.0%}", fontsize=9)
        axes[row, 0].set_ylabel(name)
    fig.suptitle(f"prediction and confidence: {' vs '.join(rows)}")
    fig.tight_layout()
    return fig


def score_histograms(scores: Mapping[str, tuple], bins: int = 30,
                     xlabel: str = "spectral score") -> plt.Figure:
    """One panel per run: ``{run: (scores (N,), poisoned bool (N,))}``; clean vs poisoned
    score histograms (densities), on the target class only when the caller passes it."""
    if not scores:
        raise ValueError("scores is empty: pass {run: (scores, poisoned)}.")
    fig, axes = plt.subplots(1, len(scores), figsize=(5 * len(scores), 3.4), squeeze=False)
    for ax, (name, (values, poisoned)) in zip(axes[0], scores.items()):
        values, poisoned = np.asarray(values), np.asarray(poisoned, dtype=bool)
        edges = np.histogram_bin_edges(values, bins=bins)
        ax.hist(values[~poisoned], edges, density=True, alpha=0.6, label="clean")
        ax.hist(values[poisoned], edges, density=True, alpha=0.6, color="tab:red",
                label="poisoned")
        ax.set(title=name, xlabel=xlabel, ylabel="density")
        ax.legend()
    fig.tight_layout()
    return fig


def latent_projection(runs: Mapping[str, tuple], classes) -> plt.Figure:
    """PCA of latents to 2-D, one panel per run: ``{run: (latents (N, D), labels (N,),
    poisoned bool (N,))}``; points coloured by clean class, poisoned samples in red."""
    from sklearn.decomposition import PCA

    if not runs:
        raise ValueError("runs is empty: pass {run: (latents, labels, poisoned)}.")
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4), squeeze=False)
    for ax, (name, (z, labels, poisoned)) in zip(axes[0], runs.items()):
        z, labels = np.asarray(z), np.asarray(labels)
        poisoned = np.asarray(poisoned, dtype=bool)
        points = PCA(2, random_state=0).fit_transform(z - z.mean(0))
        for k, label in enumerate(classes):
            chosen = (labels == k) & ~poisoned
            ax.scatter(*points[chosen].T, s=6, alpha=0.4, label=f"clean {label}")
        ax.scatter(*points[poisoned].T, s=10, color="tab:red", marker="x",
                   label=f"poisoned (labelled {classes[int(labels[poisoned][0])]})"
                   if poisoned.any() else "poisoned")
        ax.set(title=name, xlabel="PC 1", ylabel="PC 2")
        ax.legend(fontsize="small", markerscale=2)
    fig.tight_layout()
    return fig
