"""Figures of the model-stealing chapter: agreement versus query budget, the Square
attack's success versus queries, the effect of the reverse-sigmoid defence on one
answer. Every function takes numbers (lists, arrays, tensors), never a model."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.plots import COLUMN_WIDTH, HIGHLIGHT, MARKERS, figure_legend, house_style

FIGSIZE = (COLUMN_WIDTH, 3.6)


def _percent(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0 or np.isnan(values).any():
        raise ValueError(f"values: expected a non-empty 1-D list of fractions, got {values}.")
    if values.min() < 0 or values.max() > 1:
        raise ValueError(f"values: expected fractions in [0, 1], got {values}.")
    return 100 * values


def _check_budgets(budgets: Sequence[int]) -> np.ndarray:
    budgets = np.asarray(budgets, dtype=float)
    if budgets.ndim != 1 or len(budgets) == 0 or (budgets <= 0).any():
        raise ValueError(f"budgets: expected positive query counts, got {budgets}.")
    return budgets


@house_style
def budget_curves(budgets: Sequence[int], curves: Mapping[str, Sequence[float]], *,
                  ylabel: str = "agreement with the victim (%)", title: str | None = None,
                  reference: float | None = None, reference_label: str = "victim accuracy"):
    """One line per ``{name: values}`` (fractions in [0, 1], one per budget) against the
    query ``budgets`` on a log axis; ``reference`` (a fraction) as a dotted line."""
    budgets = _check_budgets(budgets)
    if not curves:
        raise ValueError("curves: pass {name: one value per budget}.")
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for index, (name, values) in enumerate(curves.items()):
        values = _percent(values)
        if len(values) != len(budgets):
            raise ValueError(f"curves[{name!r}]: {len(values)} values for "
                             f"{len(budgets)} budgets.")
        ax.plot(budgets, values, marker="o", label=name,
                linestyle=("-", "--", "-.", ":")[index % 4])
    if reference is not None:
        ax.axhline(100 * reference, color="grey", linestyle=":", label=reference_label)
    ax.set_xscale("log")
    ax.set_xticks(budgets, [f"{int(b):,}" for b in budgets])
    ax.minorticks_off()
    ax.set(xlabel="query budget (images sent to the API)", ylabel=ylabel,
           title=title or "extraction: agreement vs budget", ylim=(0, 102))
    ax.grid(True)
    figure_legend(fig, ncols=2)
    return fig


@house_style
def attack_curve(budgets: Sequence[int], success: Sequence[float], white_box: float, *,
                 title: str | None = None):
    """The query attack's success rate per query budget (fractions) against the
    white-box attack's success rate at the same ε (a horizontal line)."""
    budgets = _check_budgets(budgets)
    values = _percent(success)
    if len(values) != len(budgets):
        raise ValueError(f"success: {len(values)} values for {len(budgets)} budgets.")
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ax.plot(budgets, values, marker="o", label="Square attack (scores only)")
    ax.axhline(_percent([white_box])[0], color=HIGHLIGHT, linestyle="--",
               label="white-box PGD (gradients)")
    ax.set_xscale("log")
    ax.set(xlabel="queries per image", ylabel="images fooled (%)", ylim=(0, 102),
           title=title or "query-based attack: success vs queries")
    ax.grid(True)
    figure_legend(fig, ncols=2)
    return fig


@house_style
def answer_bars(answers: Mapping[str, Sequence[float]], *, class_names=None,
                title: str | None = None):
    """One image's answer under several defences: ``{defence: probabilities (K,)}`` as
    grouped bars per class, on a log axis so that the small scores are visible."""
    if not answers:
        raise ValueError("answers: pass {defence name: K probabilities}.")
    rows = {name: np.asarray(values, dtype=float) for name, values in answers.items()}
    sizes = {len(values) for values in rows.values()}
    if len(sizes) != 1:
        raise ValueError(f"answers: every answer needs the same K, got sizes {sizes}.")
    classes = np.arange(sizes.pop())
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for index, (name, values) in enumerate(rows.items()):
        ax.bar(classes + (index - (len(rows) - 1) / 2) * width,
               np.clip(values, 1e-6, None), width, label=name, edgecolor="white",
               hatch=("", "//", "..", "xx")[index % 4])
    ax.set_yscale("log")
    ax.set_xticks(classes, class_names if class_names is not None else classes)
    ax.set(xlabel="class", ylabel="answered score (log scale)", ylim=(1e-6, 2),
           title=title or "one answer under each defence")
    figure_legend(fig)
    return fig
