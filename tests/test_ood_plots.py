"""helpers.ood_plots: the figures draw what the scores say (curves, threshold marker,
one histogram panel per score) and refuse bad scores through ood.as_scores."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import ood, ood_plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _scores():
    rng = np.random.default_rng(0)
    return rng.normal(1, 1, 400), rng.normal(0, 1.3, 200)


def test_inlier_fraction_curve_draws_each_set_and_marks_the_threshold():
    inside, outside = _scores()
    threshold = ood.threshold_at_tpr(inside)
    figure = ood_plots.inlier_fraction_curve(inside, threshold, {"frog": outside})
    ax = figure.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "in-distribution" in labels and "frog" in labels, (
        f"expected an ID curve and a 'frog' curve, got {labels}")
    curve = next(line for line in ax.get_lines() if line.get_label() == "in-distribution")
    y = np.asarray(curve.get_ydata())
    assert y[0] == 100 and y[-1] == pytest.approx(100 / len(inside)), (
        f"expected the ID curve to fall from 100 % to one sample, got {y[0]} → {y[-1]}")
    marker = next(line for line in ax.get_lines() if line.get_label().startswith("threshold"))
    point = (marker.get_xdata()[0], marker.get_ydata()[0])
    assert point == pytest.approx((threshold, 95.0)), (
        f"expected the marker at (threshold {threshold:.3f}, 95 %), got {point}")


def test_score_histograms_draw_one_panel_per_score_with_its_threshold():
    inside, outside = _scores()
    panels = {"MSP": (inside, {"frog": outside}), "energy": (inside + 5, {"frog": outside})}
    figure = ood_plots.score_histograms(panels, {"MSP": 0.5, "energy": 4.0})
    assert len(figure.axes) == 2, f"expected 2 panels, got {len(figure.axes)}"
    for ax, expected in zip(figure.axes, (0.5, 4.0)):
        vertical = [line.get_xdata()[0] for line in ax.get_lines()]
        assert vertical == [expected], f"expected one threshold line at {expected}, got {vertical}"


def test_plots_refuse_bad_input_naming_it():
    inside, outside = _scores()
    with pytest.raises(ValueError, match="scores"):
        ood_plots.score_histograms({}, {})
    with pytest.raises(ValueError, match="frog"):
        ood_plots.inlier_fraction_curve(inside, 0.0, {"frog": [np.nan, 1.0]})
