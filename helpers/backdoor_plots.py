"""Chapter 4 (backdoors): figures of poisoned data, triggered predictions and latent space."""

from __future__ import annotations

import math
from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from helpers.backdoor import stamp
from helpers.train import predict
from helpers.data import ImageDataset


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


def triggered_predictions(model, images: torch.Tensor, trigger: torch.Tensor,
                          classes, position="bottom-right", alpha: float = 1.0) -> plt.Figure:
    """Predictions and confidences of ``model`` on ``images`` (N, 3, H, W) in [0, 1]:
    top row as they are, bottom row with the trigger stamped on."""
    images = torch.as_tensor(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images: expected (N, 3, H, W) with N >= 1, got {tuple(images.shape)}.")
    rows = {"clean": images, "with trigger": stamp(images, trigger, position, alpha)}
    fig, axes = plt.subplots(2, len(images), figsize=(1.5 * len(images), 3.6), squeeze=False)
    for row, (name, batch) in enumerate(rows.items()):
        as_data = ImageDataset((batch * 255).round().to(torch.uint8),
                               torch.zeros(len(batch), dtype=torch.int64), name="", split="",
                               source="", description="", classes=tuple(classes))
        probabilities = predict(model, as_data)[0]
        for ax, image, p in zip(axes[row], batch, probabilities):
            _show(ax, image)
            k = int(p.argmax())
            ax.set_title(f"{classes[k]} {p[k]:.0%}", fontsize=9)
        axes[row, 0].set_ylabel(name)
    fig.suptitle("prediction and confidence: clean (top) vs triggered (bottom)")
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
