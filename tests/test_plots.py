import matplotlib
import pytest
import torch

from helpers import plots

matplotlib.use("Agg")

HISTORY = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_acc": [0.4, 0.8],
           "val_loss": [1.1, 0.7], "val_acc": [0.35, 0.7], "lr": [0.1, 0.09], "seconds": [1, 1]}


def test_training_curves_draw_train_and_validation():
    fig = plots.training_curves({"baseline": HISTORY, "adam": HISTORY})
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 4 and len(acc_ax.lines) == 4
    assert list(acc_ax.lines[0].get_ydata()) == [40.0, 80.0]


def test_image_grid_colours_right_and_wrong_predictions():
    fig = plots.image_grid(torch.rand(3, 3, 8, 8), labels=[1, 2, 3], predictions=[1, 0, 3],
                           class_names=list("abcd"), ncols=3)
    titles = [ax.title for ax in fig.axes[:3]]
    assert [t.get_text() for t in titles] == ["b (b)", "a (c)", "d (d)"]
    assert titles[1].get_color() == "tab:red" and titles[0].get_color() == "tab:green"


def test_comparison_bars_one_bar_per_run_and_metric():
    fig = plots.comparison_bars({"a": {"SVHN": 90, "MNIST": 50}, "b": {"SVHN": 91, "MNIST": 60}})
    assert len(fig.axes[0].patches) == 4


@pytest.mark.parametrize("call", [lambda: plots.training_curves({}),
                                  lambda: plots.image_grid(torch.rand(2, 8, 8)),
                                  lambda: plots.comparison_bars({})])
def test_empty_or_misshaped_input_raises(call):
    with pytest.raises(ValueError):
        call()
