"""Chapter 2 (robustness): figures — maps of penultimate features and robust-accuracy
curves. They take numbers (2-D points, accuracies), never a model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def feature_maps(maps: dict[str, np.ndarray], labels, class_names, title: str | None = None,
                 method: str = "umap") -> plt.Figure:
    """Scatter plots side by side, one per ``{panel title: (N, 2) map}``, coloured by class."""
    if not maps:
        raise ValueError("maps is empty: pass {panel title: (N, 2) coordinates}.")
    labels = np.asarray(labels)
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (name, points) in zip(axes[0], maps.items()):
        for k, class_name in enumerate(class_names):
            chosen = labels == k
            ax.scatter(points[chosen, 0], points[chosen, 1], s=7, color=colours(k), label=class_name)
        ax.set(title=name, xticks=[], yticks=[], xlabel=f"{method} 1", ylabel=f"{method} 2")
    axes[0, -1].legend(fontsize="x-small", markerscale=2, loc="center left",
                       bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_curves(epsilons, curves: dict[str, list[float]], title: str | None = None) -> plt.Figure:
    """Robust accuracy (%) against ε (shown in units of 1/255), one line per model."""
    if not curves:
        raise ValueError("curves is empty: pass {model name: accuracies}.")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, values in curves.items():
        ax.plot(np.asarray(epsilons) * 255, np.asarray(values) * 100, marker="o", label=name)
    ax.set(xlabel="ε (× 1/255)", ylabel="robust accuracy (%)", ylim=(0, 100),
           title=title or "robust accuracy vs attack strength")
    ax.axhline(10, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
