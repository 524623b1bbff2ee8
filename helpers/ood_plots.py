"""Figures of the OOD chapter: inlier fraction vs threshold, score histograms."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np

from helpers.ood import as_scores, inlier_fraction
from helpers.plots import BLACK, COLUMN_WIDTH, HIGHLIGHT, figure_legend, house_style

LINESTYLES = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))  # the OOD sets differ by dash too


@house_style
def inlier_fraction_curve(in_scores, threshold: float, out_scores: Mapping | None = None,
                          tpr: float = 0.95, title: str | None = None) -> plt.Figure:
    """Share of samples with score ``>= t`` as a function of the threshold ``t``.

    The solid line is the ID test set, with the chosen ``threshold`` (where ``tpr`` of it
    is kept) marked; dashed lines are the OOD sets ``{name: scores}``: where they cross
    the threshold line is the share of them that passes as inliers. The legend sits
    below the axes, clear of the curves.
    """
    inside = as_scores("in_scores", in_scores)
    out_scores = {name: as_scores(name, s) for name, s in (out_scores or {}).items()}
    every = np.concatenate([inside, *out_scores.values()])
    grid = np.linspace(every.min(), every.max(), 400)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.6))
    ax.plot(grid, inlier_fraction(inside, grid) * 100, color=BLACK, label="in-distribution")
    for index, (name, scores) in enumerate(out_scores.items()):
        ax.plot(grid, inlier_fraction(scores, grid) * 100, label=name, linewidth=1.8,
                linestyle=LINESTYLES[index % len(LINESTYLES)])
    kept = inlier_fraction(inside, [threshold])[0] * 100
    ax.axvline(threshold, color=HIGHLIGHT, alpha=0.6)
    ax.axhline(tpr * 100, color=HIGHLIGHT, alpha=0.3)
    ax.plot([threshold], [kept], "o", color=HIGHLIGHT,
            label=f"threshold {threshold:.3g}: {kept:.1f} % of ID kept")
    ax.set(xlabel="threshold on the score", ylabel="score ≥ threshold (%)",
           ylim=(-2, 102), title=title or "inlier fraction vs threshold")
    ax.grid(True)
    figure_legend(fig)
    return fig


@house_style
def score_histograms(panels: Mapping[str, tuple], thresholds: Mapping[str, float],
                     bins: int = 40, title: str | None = None) -> plt.Figure:
    """One panel per score: ``{score name: (ID scores, {OOD name: scores})}``.

    Densities share bins per panel; the score's threshold from ``thresholds`` is a
    vertical line (left of it = flagged as OOD). One legend below the panels.
    """
    if not panels:
        raise ValueError("panels: no scores to draw; pass {score name: (ID, {OOD: scores})}.")
    fig, axes = plt.subplots(1, len(panels), figsize=(COLUMN_WIDTH, 3.2), squeeze=False)
    for ax, (name, (inside, outside)) in zip(axes.flat, panels.items()):
        inside = as_scores("in_scores", inside)
        outside = {key: as_scores(key, s) for key, s in outside.items()}
        every = np.concatenate([inside, *outside.values()])
        edges = np.linspace(every.min(), every.max(), bins + 1)
        ax.hist(inside, edges, density=True, color=BLACK, alpha=0.3, label="in-distribution")
        for index, (key, scores) in enumerate(outside.items()):
            ax.hist(scores, edges, density=True, histtype="step", linewidth=1.6, label=key,
                    linestyle=LINESTYLES[index % len(LINESTYLES)])
        if name in thresholds:
            ax.axvline(thresholds[name], color=HIGHLIGHT, label="95 % threshold")
        ax.set(xlabel=f"{name} score (higher: more ID)", ylabel="density")
        ax.grid(True)
    figure_legend(fig, ncols=3)
    if title:
        fig.suptitle(title)
    return fig
