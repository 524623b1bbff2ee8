"""helpers.fairness_plots: each figure draws the numbers it is given (no model)."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from helpers import fairness_plots

matplotlib.use("Agg")

Z = pd.DataFrame({"race": [0, 0, 1, 1, 1, 1], "sex": [0, 1, 0, 1, 0, 1]})
NAMES = {"race": ("Black", "White"), "sex": ("Female", "Male")}


def test_group_distributions_one_panel_per_run_and_attribute_titled_with_its_p_rule():
    scores = np.array([0.9, 0.2, 0.8, 0.6, 0.1, 0.7])   # race: 1 of 2 vs 3 of 4 selected
    fig = fairness_plots.group_distributions({"before": scores, "after": 1 - scores}, Z, NAMES)
    assert len(fig.axes) == 4, f"expected 2 runs × 2 attributes = 4 panels, got {len(fig.axes)}"
    title = fig.axes[0].get_title()
    assert title == "before — race: p%-rule 67 %", (
        f"expected the p%-rule 100 × 0.5 / 0.75 = 67 in the title, got {title!r}")
    legend = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert legend == ["Female", "Male"], f"expected the group names, got {legend}"


def test_group_distributions_needs_a_run():
    with pytest.raises(ValueError, match="runs is empty"):
        fairness_plots.group_distributions({}, Z)


def test_debiasing_curves_draw_each_attribute_and_the_reference_lines():
    history = {"iteration": [0, 1, 2], "accuracy": [85, 84, 83], "roc_auc": [90, 89, 88],
               "p_rule_race": [40, 60, 80], "p_rule_sex": [30, 50, 90],
               "adversary_auc_race": [70, 60, 52], "adversary_auc_sex": [80, 65, 51]}
    left, right = fairness_plots.debiasing_curves(history, ["race", "sex"]).axes
    labels = [line.get_label() for line in left.lines]
    assert labels == ["accuracy", "ROC AUC", "p%-rule race", "p%-rule sex", "80 %"], (
        f"got lines {labels}")
    drawn = list(right.lines[1].get_ydata())
    assert drawn == [80, 65, 51], f"expected the sex adversary's AUCs, got {drawn}"


def test_tradeoff_plots_accuracy_against_each_p_rule():
    sweep = pd.DataFrame({"accuracy": [85.0, 83.0], "p% race": [40.0, 85.0],
                          "p% sex": [30.0, 90.0]}, index=[0.0, 1.0])
    ax = fairness_plots.tradeoff(sweep, ["race", "sex"]).axes[0]
    x, y = ax.lines[1].get_data()
    assert list(x) == [30.0, 90.0] and list(y) == [85.0, 83.0], (
        f"expected sex p%-rules [30, 90] against accuracy [85, 83], got {list(x)}, {list(y)}")
    notes = [text.get_text() for text in ax.texts]
    assert notes == ["×0", "×1", "×0", "×1"], f"expected λ-scale labels, got {notes}"
