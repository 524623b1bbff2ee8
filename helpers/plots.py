"""Figures every chapter uses: training curves, image grids, grouped comparison bars."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def training_curves(histories: Mapping[str, dict], title: str | None = None) -> plt.Figure:
    """Loss and accuracy per epoch for several runs: ``{run name: history from fit}``.

    Solid lines are training, dashed lines validation (when recorded).
    """
    if not histories:
        raise ValueError("histories is empty: pass {run name: history}.")
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, history) in enumerate(histories.items()):
        colour = colours[index % len(colours)]
        epochs = history["epoch"]
        loss_ax.plot(epochs, history["train_loss"], color=colour, label=name)
        acc_ax.plot(epochs, np.asarray(history["train_acc"]) * 100, color=colour, label=name)
        if history.get("val_loss"):
            loss_ax.plot(epochs, history["val_loss"], color=colour, linestyle="--")
            acc_ax.plot(epochs, np.asarray(history["val_acc"]) * 100, color=colour, linestyle="--")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss (solid: train, dashed: validation)")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    acc_ax.legend(fontsize="small", loc="lower right")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_grid(images: torch.Tensor, labels: Sequence[int] | None = None,
               predictions: Sequence[int] | None = None, class_names: Sequence[str] | None = None,
               ncols: int = 8, title: str | None = None) -> plt.Figure:
    """Show images (N, C, H, W) in [0, 1] in a grid, titled with label and prediction.

    With ``predictions``, a title reads "pred (true)" in green when right, red when wrong.
    """
    images = torch.as_tensor(images).detach().cpu()
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images: expected (N, 1|3, H, W), got {tuple(images.shape)}.")
    if len(images) == 0:
        raise ValueError("images is empty.")
    name = (lambda k: class_names[k]) if class_names else str
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.6 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for index, (ax, image) in enumerate(zip(axes.flat, images)):
        picture = image.permute(1, 2, 0).clamp(0, 1).numpy()
        ax.imshow(picture.squeeze(-1) if picture.shape[-1] == 1 else picture,
                  cmap="gray", vmin=0, vmax=1)
        if predictions is not None:
            right = labels is None or int(predictions[index]) == int(labels[index])
            text = name(int(predictions[index]))
            if labels is not None:
                text += f" ({name(int(labels[index]))})"
            ax.set_title(text, fontsize=9, color="tab:green" if right else "tab:red")
        elif labels is not None:
            ax.set_title(name(int(labels[index])), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def comparison_bars(table: Mapping[str, Mapping[str, float]], ylabel: str = "accuracy (%)",
                    title: str | None = None) -> plt.Figure:
    """Grouped bars: ``{run: {metric: value}}`` → one group per run, one bar per metric.

    Values are written on top of the bars.
    """
    if not table:
        raise ValueError("table is empty: pass {run: {metric: value}}.")
    runs = list(table)
    metrics = list(next(iter(table.values())))
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(runs) + 2), 4))
    for index, metric in enumerate(metrics):
        positions = np.arange(len(runs)) + (index - (len(metrics) - 1) / 2) * width
        values = [table[run][metric] for run in runs]
        bars = ax.bar(positions, values, width, label=metric)
        ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=1)
    ax.set_xticks(np.arange(len(runs)), runs, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
