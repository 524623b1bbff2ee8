"""Chapter 2 (robustness): figures — maps of penultimate features and robust-accuracy
curves. They take numbers (2-D points, accuracies), never a model."""

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
    fig, axes = plt.subplots(1, len(maps), figsize=(COLUMN_WIDTH, 3.9), squeeze=False)
    for ax, (name, points) in zip(axes[0], maps.items()):
        for k, class_name in enumerate(class_names):
            chosen = labels == k
            ax.scatter(points[chosen, 0], points[chosen, 1], s=8, label=class_name,
                       color=PALETTE[k % len(PALETTE)], marker=MARKERS[k % len(MARKERS)],
                       linewidths=0)
        ax.set(title=name, xticks=[], yticks=[], xlabel=f"{method} 1", ylabel=f"{method} 2")
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
