"""Figures of the fairness chapter: score distributions per group, the debiasing game
over its iterations, the accuracy–fairness trade-off of a λ sweep.

Every function takes numbers (scores, histories, tables), never a model.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.fairness import FOUR_FIFTHS, p_percent_rule


def group_distributions(runs: dict, Z: pd.DataFrame, labels: dict | None = None) -> plt.Figure:
    """Histograms of predicted P(income > 50k) per group: one row per run, one column per attribute.

    ``runs``: {run name: scores (N,)}; ``labels``: {column: (name of 0, name of 1)}.
    """
    if not runs:
        raise ValueError("runs is empty: pass {run name: scores}.")
    labels = labels or {c: (f"{c}=0", f"{c}=1") for c in Z.columns}
    fig, axes = plt.subplots(len(runs), len(Z.columns), figsize=(5 * len(Z.columns),
                             2.8 * len(runs)), squeeze=False, sharex=True)
    bins = np.linspace(0, 1, 26)
    for row, (run, scores) in enumerate(runs.items()):
        scores = np.asarray(scores)
        for col, column in enumerate(Z.columns):
            ax, z = axes[row, col], np.asarray(Z[column])
            for group, colour in ((0, "tab:orange"), (1, "tab:blue")):
                ax.hist(scores[z == group], bins=bins, density=True, alpha=0.5,
                        color=colour, label=labels[column][group])
            p = p_percent_rule((scores > 0.5).astype(int), z)
            ax.set_title(f"{run} — {column}: p%-rule {p:.0f} %", fontsize=10)
            ax.legend(fontsize="small")
            ax.set_ylabel("density")
    for ax in axes[-1]:
        ax.set_xlabel("predicted P(income > 50k)")
    fig.tight_layout()
    return fig


def debiasing_curves(history: dict, attributes) -> plt.Figure:
    """Accuracy, ROC AUC, p%-rules and adversary AUCs (%) over the debiasing iterations."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    steps = history["iteration"]
    left.plot(steps, history["accuracy"], label="accuracy", color="black")
    left.plot(steps, history["roc_auc"], label="ROC AUC", color="grey", linestyle="--")
    for attribute in attributes:
        left.plot(steps, history[f"p_rule_{attribute}"], label=f"p%-rule {attribute}")
        right.plot(steps, history[f"adversary_auc_{attribute}"], label=f"adversary {attribute}")
    left.axhline(FOUR_FIFTHS, color="tab:red", linewidth=0.8, linestyle=":", label="80 %")
    right.axhline(50, color="black", linewidth=0.8, linestyle=":", label="chance")
    left.set(xlabel="iteration", ylabel="%", title="classifier on the test set")
    right.set(xlabel="iteration", ylabel="ROC AUC (%)", title="adversary predicting z from ŷ")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def tradeoff(sweep: pd.DataFrame, attributes) -> plt.Figure:
    """Accuracy against p%-rule per attribute over a λ sweep (rows indexed by the λ scale)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for attribute in attributes:
        ax.plot(sweep[f"p% {attribute}"], sweep["accuracy"], marker="o", label=attribute)
        for scale, row in sweep.iterrows():
            ax.annotate(f"×{scale:g}", (row[f"p% {attribute}"], row["accuracy"]),
                        fontsize=8, textcoords="offset points", xytext=(4, 4))
    ax.axvline(FOUR_FIFTHS, color="tab:red", linewidth=0.8, linestyle=":", label="80 %")
    ax.set(xlabel="p%-rule (%)", ylabel="accuracy (%)",
           title="accuracy–fairness trade-off (labels: λ scale)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
