"""helpers.robustness_plots: maps of features and robust-accuracy curves."""

import matplotlib
import numpy as np
import pytest

from helpers import robustness_plots

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_feature_maps_draw_one_panel_per_map_and_every_point():
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 3
    maps = {"clean": rng.normal(size=(30, 2)), "adversarial": rng.normal(size=(30, 2))}
    fig = robustness_plots.feature_maps(maps, labels, ["a", "b", "c"], title="t",
                                        method="tsne")
    assert [ax.get_title() for ax in fig.axes] == ["clean", "adversarial"], (
        f"expected one panel per map, got {[ax.get_title() for ax in fig.axes]}")
    drawn = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    assert drawn == 30, f"expected 30 points in the first panel, got {drawn}"
    axes = (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel())
    assert axes == ("t-SNE 1", "t-SNE 2"), f"expected the method's name on the axes, got {axes}"
    with pytest.raises(ValueError, match="maps"):
        robustness_plots.feature_maps({}, labels, ["a"])


def test_accuracy_curves_plot_percentages_against_eps_in_grey_levels():
    fig = robustness_plots.accuracy_curves([0, 4 / 255, 8 / 255],
                                           {"standard": [0.9, 0.3, 0.05]})
    line = fig.axes[0].lines[0]
    assert np.allclose(line.get_xdata(), [0, 4, 8]), f"got x {line.get_xdata()}"
    assert np.allclose(line.get_ydata(), [90, 30, 5]), f"got y {line.get_ydata()}"
    assert fig.axes[0].get_ylim() == (0, 100), f"got ylim {fig.axes[0].get_ylim()}"
    with pytest.raises(ValueError, match="curves"):
        robustness_plots.accuracy_curves([0], {})


def test_epoch_accuracies_draw_each_series_a_history_has_one_panel_per_model():
    history = {"epoch": [1, 2], "train_acc": [0.5, 0.7], "val_acc": [0.4, 0.6],
               "val_pgd_acc": [0.1, 0.2]}
    no_logits = {"epoch": [1, 2], "train_acc": [float("nan")] * 2, "val_acc": [0.3, 0.5]}
    fig = robustness_plots.epoch_accuracies({"standard": history, "circle": no_logits,
                                             "TRADES": history, "PGD": history})
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["standard", "circle", "TRADES", "PGD"], (
        f"expected one visible panel per model, got {[ax.get_title() for ax in panels]}")
    assert [line.get_label() for line in panels[0].lines] == [
        "training", "validation, clean", "validation, PGD"], (
        f"expected three series, got {[line.get_label() for line in panels[0].lines]}")
    assert np.allclose(panels[0].lines[2].get_ydata(), [10, 20]), (
        f"expected the PGD series in percent [10, 20], got {panels[0].lines[2].get_ydata()}")
    assert [line.get_label() for line in panels[1].lines] == ["validation, clean"], (
        "expected the NaN training accuracy and the missing PGD series left out, got "
        f"{[line.get_label() for line in panels[1].lines]}")
    labelled = [ax.get_title() for ax in panels if ax.get_xlabel() == "epoch"]
    assert labelled == ["circle", "TRADES", "PGD"], (
        f"expected the lowest panel of each column to name the x-axis, got {labelled}")
    with pytest.raises(ValueError, match="histories"):
        robustness_plots.epoch_accuracies({})
