import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import plots

matplotlib.use("Agg")

HISTORY = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_acc": [0.4, 0.8],
           "val_loss": [1.1, 0.7], "val_acc": [0.35, 0.7], "lr": [0.1, 0.09], "seconds": [1, 1]}


def _legend(fig):
    return [text.get_text() for text in fig.legends[0].get_texts()]


def test_training_curves_draw_train_and_validation_and_name_the_dashes():
    fig = plots.training_curves({"baseline": HISTORY, "adam": HISTORY}, validation="SVHN test")
    loss_ax, acc_ax = fig.axes
    drawn = [line for line in loss_ax.lines if len(line.get_xdata())]
    assert len(drawn) == 4 and len(acc_ax.lines) == 4, (
        f"expected train + validation per run, got {len(drawn)} and {len(acc_ax.lines)}")
    assert list(acc_ax.lines[0].get_ydata()) == [40.0, 80.0], "expected accuracy in %"
    assert _legend(fig) == ["baseline", "adam", "training", "SVHN test"], (
        f"expected the runs and the two line styles in the legend, got {_legend(fig)}")


def test_training_curves_promise_no_dashes_without_validation():
    history = {key: HISTORY[key] for key in ("epoch", "train_loss", "train_acc")}
    fig = plots.training_curves({"baseline": history})
    titles = [ax.get_title() for ax in fig.axes]
    assert _legend(fig) == ["baseline"] and titles == ["loss", "accuracy"], (
        f"expected no line-style entry or title without validation, got {_legend(fig)}, "
        f"{titles}")


def test_image_grid_marks_right_and_wrong_by_symbol_and_colour():
    fig = plots.image_grid(torch.rand(3, 3, 8, 8), labels=[1, 2, 3], predictions=[1, 0, 3],
                           class_names=list("abcd"), ncols=3)
    titles = [ax.title for ax in fig.axes[:3]]
    texts = [t.get_text() for t in titles]
    assert texts == ["✓ b", "✗ a\ntrue: c", "✓ d"], f"expected ✓/✗ titles, got {texts}"
    assert titles[1].get_color() == plots.WRONG and titles[0].get_color() == plots.RIGHT, (
        f"expected {plots.RIGHT} / {plots.WRONG}, got {titles[0].get_color()} / "
        f"{titles[1].get_color()}")


def test_image_grid_without_labels_marks_nothing_and_names_rows():
    fig = plots.image_grid(torch.rand(4, 1, 8, 8), predictions=[1, 0, 3, 2], ncols=2,
                           row_titles=["noise", "digits"])
    texts = [ax.get_title() for ax in fig.axes]
    assert texts == ["1", "0", "3", "2"], f"expected the bare predictions, got {texts}"
    rows = [fig.axes[0].get_ylabel(), fig.axes[2].get_ylabel()]
    assert rows == ["noise", "digits"], f"expected the row titles, got {rows}"
    with pytest.raises(ValueError, match="row_titles"):
        plots.image_grid(torch.rand(4, 1, 8, 8), ncols=2, row_titles=["one"])


def test_comparison_bars_one_bar_per_run_and_metric():
    fig = plots.comparison_bars({"a": {"SVHN": 90, "MNIST": 50}, "b": {"SVHN": 91, "MNIST": 60}})
    ax = fig.axes[0]
    assert len(ax.patches) == 4, f"expected 2 runs × 2 metrics bars, got {len(ax.patches)}"
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.y0 >= ax.get_window_extent().y1 - 1, (
        "expected the legend above the axes, clear of the bars and their labels")


def test_results_table_formats_fractions_decimals_and_missing_values():
    table = pd.DataFrame({"accuracy": [0.912, 0.5], "effect": [-0.405, 1.2e-5],
                          "SS TPR": [math.nan, 0.75]}, index=["clean", "backdoor"])
    html = plots.results_table(table, percent=["accuracy", "SS TPR"], signed=True).to_html()
    for shown in ("91.2 %", "50.0 %", "-0.405", "+1.20e-05", "—", "75.0 %"):
        assert shown in html, f"expected {shown!r} in the table, got {html}"
    assert "nan" not in html.lower() and "e-01" not in html, (
        "expected no NaN and no scientific notation for 0.1–0.5")
    assert "padding" in html, "expected padded cells"
    fixed = plots.results_table(pd.Series([85.04, np.nan], name="acc (%)"), decimals=1)
    assert ">85.0<" in fixed.to_html().replace(" ", ""), "expected one decimal"
    with pytest.raises(ValueError, match="percent"):
        plots.results_table(table, percent=["missing"])
    with pytest.raises(TypeError, match="table"):
        plots.results_table([1, 2])


def test_results_table_puts_the_index_name_in_the_header_corner():
    table = pd.DataFrame({"clean": [0.9], "PGD": [0.1]}, index=pd.Index(["standard"],
                                                                        name="model"))
    head = plots.results_table(table, percent=True).to_html().split("</thead>")[0]
    corner = head.split("<th ")[1]
    assert ">model<" in corner, f"expected the corner header to read 'model', got {corner!r}"
    assert "blank" not in head and head.count("<tr") == 1, (
        f"expected one header row without empty header cells, got {head}")


@pytest.mark.parametrize("call", [lambda: plots.training_curves({}),
                                  lambda: plots.image_grid(torch.rand(2, 8, 8)),
                                  lambda: plots.comparison_bars({})])
def test_empty_or_misshaped_input_raises(call):
    with pytest.raises(ValueError):
        call()


def test_house_style_keeps_interactive_mode_turned_on_while_drawing():
    @plots.house_style
    def draw():
        matplotlib.interactive(True)  # what loading Jupyter's inline backend does
        return matplotlib.pyplot.figure()

    before = matplotlib.is_interactive()
    try:
        matplotlib.interactive(False)
        draw()
        assert matplotlib.is_interactive(), (
            "expected interactive mode still on after the figure (else Jupyter shows no "
            "later figure), got off")
    finally:
        matplotlib.interactive(before)
