"""Chapter 2 (robustness): figures — maps of penultimate features, robust-accuracy
curves and accuracy per training epoch. They take numbers (2-D points, accuracies,
histories), never a model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from helpers.plots import COLUMN_WIDTH, MARKERS, PALETTE, figure_legend, house_style


@house_style
def feature_maps(maps: dict[str, np.ndarray], labels, class_names, title: str | None = None,
                 method: str = "umap") -> plt.Figure:
    """Scatter plots side by side, one per ``{panel title: (N, 2) map}``; each class has
    its own colour and marker, the legend sits below the panels."""
    if not maps:
        raise ValueError("maps is empty: pass {panel title: (N, 2) coordinates}.")
    labels = np.asarray(labels)
    axis = {"umap": "UMAP", "tsne": "t-SNE"}.get(method, method)
    fig, axes = plt.subplots(1, len(maps), figsize=(COLUMN_WIDTH, 3.9), squeeze=False)
    for ax, (name, points) in zip(axes[0], maps.items()):
        for k, class_name in enumerate(class_names):
            chosen = labels == k
            ax.scatter(points[chosen, 0], points[chosen, 1], s=8, label=class_name,
                       color=PALETTE[k % len(PALETTE)], marker=MARKERS[k % len(MARKERS)],
                       linewidths=0)
        ax.set(title=name, xticks=[], yticks=[], xlabel=f"{axis} 1", ylabel=f"{axis} 2")
    figure_legend(fig, ncols=5, markerscale=1.5)
    if title:
        fig.suptitle(title)
    return fig


@house_style
def accuracy_curves(epsilons, curves: dict[str, list[float]], title: str | None = None) -> plt.Figure:
    """Robust accuracy (%) against ε (shown in units of 1/255), one line (colour and
    marker) per model; the legend sits below the axes."""
    if not curves:
        raise ValueError("curves is empty: pass {model name: accuracies}.")
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.6))
    for index, (name, values) in enumerate(curves.items()):
        ax.plot(np.asarray(epsilons) * 255, np.asarray(values) * 100, label=name,
                marker=MARKERS[index % len(MARKERS)])
    ax.set(xlabel="ε (× 1/255)", ylabel="robust accuracy (%)", ylim=(0, 100),
           title=title or "robust accuracy vs attack strength")
    ax.axhline(10, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.grid(True)
    figure_legend(fig, ncols=4)
    return fig


#: The per-epoch series of a :func:`helpers.train.fit` history that
#: :func:`epoch_accuracies` draws, with their legend labels.
EPOCH_SERIES = (("train_acc", "training"), ("val_acc", "validation, clean"),
                ("val_pgd_acc", "validation, PGD"))


@house_style
def epoch_accuracies(histories: dict[str, dict], title: str | None = None) -> plt.Figure:
    """Accuracy (%) per epoch, one panel per trained model ``{name: history of
    helpers.train.fit}`` (at most three panels a row, one y-axis, 0–100 %): its training
    accuracy, clean validation accuracy and PGD validation accuracy (the history's
    ``train_acc``, ``val_acc`` and ``val_pgd_acc``), each series with its own colour and
    marker in every panel. A series a history lacks, or holds only as NaN (the training
    accuracy of a step without logits), is left out of that panel."""
    if not histories:
        raise ValueError("histories is empty: pass {model name: history}.")
    columns = min(3, len(histories))
    rows = -(-len(histories) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(COLUMN_WIDTH, 2.3 * rows + 0.8),
                             sharey=True, squeeze=False)
    for ax, (name, history) in zip(axes.flat, histories.items()):
        for index, (key, label) in enumerate(EPOCH_SERIES):
            values = np.asarray(history.get(key, []), dtype=float)
            if len(values) and not np.isnan(values).all():
                ax.plot(history["epoch"], values * 100, label=label,
                        color=PALETTE[index], marker=MARKERS[index], markersize=4)
        ax.set(title=name, ylim=(0, 100))
        ax.grid(True)
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes.flat[len(histories):]:
        ax.set_visible(False)  # an incomplete last row
    for column in axes.T:  # the lowest visible panel of each column names the x-axis
        [ax for ax in column if ax.get_visible()][-1].set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy (%)")
    figure_legend(fig, ncols=len(EPOCH_SERIES))
    if title:
        fig.suptitle(title)
    return fig
