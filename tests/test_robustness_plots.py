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
