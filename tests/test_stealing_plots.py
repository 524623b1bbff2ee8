"""helpers.stealing_plots: each figure draws what it is given, titles its axes, refuses
inconsistent input, and takes numbers only (no model)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import stealing_plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labelled(ax):
    return ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_budget_curves_one_line_per_curve_in_percent():
    fig = stealing_plots.budget_curves([100, 1000], {"labels": [0.5, 0.7],
                                                     "probabilities": [0.6, 0.9]},
                                       reference=0.95)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(lines) == 2, f"expected 2 curves, got {len(lines)}"
    assert list(lines[1].get_ydata()) == pytest.approx([60, 90]), "expected percentages"
    assert _labelled(ax), "expected titled axes"
    width, height = fig.get_size_inches()
    assert width <= 7 and height <= 4, f"expected a figure for a 690 px column, got {width}×{height}"


def test_budget_curves_reject_bad_input():
    with pytest.raises(ValueError, match="budgets"):
        stealing_plots.budget_curves([], {"a": []})
    with pytest.raises(ValueError, match="values"):
        stealing_plots.budget_curves([1, 2], {"a": [0.1, 1.5]})
    with pytest.raises(ValueError, match="2 budgets"):
        stealing_plots.budget_curves([1, 2], {"a": [0.1]})


def test_attack_curve_draws_the_white_box_line():
    fig = stealing_plots.attack_curve([10, 100], [0.2, 0.5], 0.9)
    ax = fig.axes[0]
    horizontal = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert horizontal and list(horizontal[0].get_ydata()) == pytest.approx([90, 90]), (
        "expected the white-box success as a dashed line at 90 %")
    assert _labelled(ax), "expected titled axes"


def test_answer_bars_one_group_per_class():
    fig = stealing_plots.answer_bars({"none": torch.tensor([0.9, 0.1, 0.0]),
                                      "defended": [0.6, 0.2, 0.2]})
    ax = fig.axes[0]
    assert len(ax.patches) == 6, f"expected 2 × 3 bars, got {len(ax.patches)}"
    assert _labelled(ax), "expected titled axes"
    with pytest.raises(ValueError, match="same K"):
        stealing_plots.answer_bars({"a": [0.5, 0.5], "b": [1.0]})
