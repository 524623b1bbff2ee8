"""Figures of the fairness chapter: score distributions per group, the debiasing game
over its iterations, the accuracy–fairness trade-off of a λ sweep.

Every function takes numbers (scores, histories, tables), never a model.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.fairness import FOUR_FIFTHS, p_percent_rule
from helpers.plots import (BLACK, BLUE, COLUMN_WIDTH, HIGHLIGHT, MARKERS, ORANGE,
                           figure_legend, house_style)


@house_style
def group_distributions(runs: dict, Z: pd.DataFrame, labels: dict | None = None) -> plt.Figure:
    """Histograms of predicted P(income > 50k) per group: one row per run, one column per attribute.

    ``runs``: {run name: scores (N,)}; ``labels``: {column: (name of 0, name of 1)}.
    """
    if not runs:
        raise ValueError("runs is empty: pass {run name: scores}.")
    labels = labels or {c: (f"{c}=0", f"{c}=1") for c in Z.columns}
    fig, axes = plt.subplots(len(runs), len(Z.columns), squeeze=False, sharex=True,
                             figsize=(COLUMN_WIDTH, 2.3 * len(runs) + 0.3))
    bins = np.linspace(0, 1, 26)
    for row, (run, scores) in enumerate(runs.items()):
        scores = np.asarray(scores)
        for col, column in enumerate(Z.columns):
            ax, z = axes[row, col], np.asarray(Z[column])
            # group 0 filled, group 1 an outline: told apart without colour
            ax.hist(scores[z == 0], bins=bins, density=True, alpha=0.5, color=ORANGE,
                    label=labels[column][0])
            ax.hist(scores[z == 1], bins=bins, density=True, histtype="step",
                    linewidth=1.8, color=BLUE, label=labels[column][1])
            p = p_percent_rule((scores > 0.5).astype(int), z)
            ax.set_title(f"{run} — {column}: p%-rule {p:.0f} %")
            ax.legend(loc="upper right")  # the scores crowd the left: P(> 50k) is rare
            ax.set_ylabel("density")
    for ax in axes[-1]:
        ax.set_xlabel("predicted P(income > 50k)")
    return fig


@house_style
def debiasing_curves(history: dict, attributes) -> plt.Figure:
    """Accuracy, ROC AUC, p%-rules and adversary AUCs (%) over the debiasing iterations;
    one legend below both panels."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.0))
    steps = history["iteration"]
    left.plot(steps, history["accuracy"], label="accuracy", color=BLACK)
    left.plot(steps, history["roc_auc"], label="ROC AUC", color="grey", linestyle="--")
    for index, attribute in enumerate(attributes):
        style = dict(marker=MARKERS[index + 1], markersize=3, markevery=max(1, len(steps) // 10))
        left.plot(steps, history[f"p_rule_{attribute}"], label=f"p%-rule {attribute}",
                  **style)
        right.plot(steps, history[f"adversary_auc_{attribute}"],
                   label=f"adversary {attribute}", **style)
    left.axhline(FOUR_FIFTHS, color=HIGHLIGHT, linewidth=0.8, linestyle=":", label="80 %")
    right.axhline(50, color=BLACK, linewidth=0.8, linestyle=":", label="chance")
    left.set(xlabel="iteration", ylabel="%", title="classifier on the test set")
    right.set(xlabel="iteration", ylabel="ROC AUC (%)", title="adversary predicting z from ŷ")
    for ax in (left, right):
        ax.grid(True)
    figure_legend(fig, ncols=4)
    return fig


@house_style
def tradeoff(sweep: pd.DataFrame, attributes) -> plt.Figure:
    """Accuracy against p%-rule per attribute over a λ sweep (rows indexed by the λ scale)."""
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.8))
    for index, attribute in enumerate(attributes):
        ax.plot(sweep[f"p% {attribute}"], sweep["accuracy"], marker=MARKERS[index],
                label=attribute)
        for scale, row in sweep.iterrows():
            ax.annotate(f"×{scale:g}", (row[f"p% {attribute}"], row["accuracy"]),
                        textcoords="offset points", xytext=(4, 4))
    ax.axvline(FOUR_FIFTHS, color=HIGHLIGHT, linewidth=0.8, linestyle=":", label="80 %")
    ax.set(xlabel="p%-rule (%)", ylabel="accuracy (%)",
           title="accuracy–fairness trade-off (labels: λ scale)")
    ax.grid(True)
    figure_legend(fig)
    return fig
