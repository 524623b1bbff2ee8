"""helpers.causal_plots: each figure draws the numbers it is given, in the layout it states."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from helpers import causal_plots


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_maps_figure_has_one_column_per_image_and_kind_and_scales_each_map():
    images = {"clean": torch.rand(2, 1, 6, 6), "PGD": torch.rand(2, 1, 6, 6)}
    heat = torch.zeros(2, 6, 6)
    heat[:, 0, 0] = torch.tensor([-4.0, 2.0])
    maps = {"CAM": {"clean": heat, "PGD": heat}, "CEM": {"clean": heat, "PGD": 3 * heat}}
    fig = causal_plots.maps_figure(images, maps, titles=["a", "b"])
    panels = [axis for axis in fig.axes if axis.get_label() != "<colorbar>"]
    assert len(panels) == 12, (
        f"expected 3 rows (input, CAM, CEM) × 4 columns (2 images × 2 kinds), got "
        f"{len(panels)} axes")
    axes = np.array(panels).reshape(3, 4)
    titles = [axis.get_title() for axis in axes[0]]
    assert titles == ["a\nclean", "a\nPGD", "b\nclean", "b\nPGD"], (
        f"expected image and kind over each column, got {titles}")
    rows = [axis.get_ylabel() for axis in axes[:, 0]]
    assert rows == ["input", "CAM", "CEM"], f"expected input, CAM, CEM rows, got {rows}"
    shown = axes[0, 0].images[0].get_array()
    assert np.allclose(shown, images["clean"][0, 0].numpy()), "expected the first clean image"
    overlay = axes[2, 3].images[1].get_array()          # CEM of image b under PGD
    assert np.isclose(np.abs(overlay).max(), 1.0), (
        f"expected each map scaled to max |value| 1, got {np.abs(overlay).max()}")
    assert overlay[0, 0] == 1.0, f"expected the sign kept, got {overlay[0, 0]}"
    assert len(fig.axes) == 13, "expected one colour bar besides the 12 panels"


def test_roc_figure_draws_each_curve_with_its_auroc_and_the_diagonal():
    curves = {"PGD": {"fpr": np.array([0, 0.5, 1]), "tpr": np.array([0, 0.9, 1]),
                      "auroc": 0.7}}
    fig = causal_plots.roc_figure(curves, title="t")
    axis = fig.axes[0]
    labels = [line.get_label() for line in axis.get_lines()]
    assert labels == ["PGD (AUROC 0.70)", "chance"], f"expected the curve and chance, got {labels}"
    assert np.allclose(axis.get_lines()[0].get_ydata(), [0, 0.9, 1]), "expected the TPR values"


def test_effect_bins_figure_plots_effects_and_weights_at_bin_centres():
    result = {"edges": np.array([0.0, 1.0, 3.0]), "bin_effects": np.array([-0.2, 0.1]),
              "weights": np.array([0.75, 0.25])}
    fig = causal_plots.effect_bins_figure({"Z₀": result}, title="unit 0")
    effect_axis, weight_axis = fig.axes
    effect_line, weight_line = effect_axis.get_lines()[0], weight_axis.get_lines()[0]
    assert np.allclose(effect_line.get_xdata(), [0.5, 2.0]), (
        f"expected bin centres 0.5, 2, got {effect_line.get_xdata()}")
    assert np.allclose(effect_line.get_ydata(), [-0.2, 0.1]), (
        f"expected the bin effects, got {effect_line.get_ydata()}")
    assert np.allclose(weight_line.get_ydata(), [0.75, 0.25]), (
        f"expected the weights, got {weight_line.get_ydata()}")
    assert fig.get_suptitle() == "unit 0", "expected the title"
