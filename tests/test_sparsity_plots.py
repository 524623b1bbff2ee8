"""helpers.sparsity_plots: each figure draws the numbers it is given (no models)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import sparsity_plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_density_curve_draws_lambda_zero_at_the_left_edge():
    table = pd.DataFrame({"accuracy": [0.6, 0.58], "density": [0.4, 0.2]},
                         index=pd.Index([0.0, 1e-4], name="λ"))
    ax = sparsity_plots.density_curve(table).axes[0]
    density = next(line for line in ax.get_lines() if "density" in line.get_label())
    x, y = np.asarray(density.get_xdata()), np.asarray(density.get_ydata())
    assert x.tolist() == pytest.approx([1e-5, 1e-4]), f"expected λ = 0 at 1e-5, got {x}"
    assert y.tolist() == pytest.approx([40, 20]), f"expected densities in %, got {y}"


def test_weight_histograms_take_weights_one_panel_each_on_a_shared_range():
    weights = {"Base": torch.tensor([-1.0, 0.5, 0.5]), "L1": np.zeros(5)}
    figure = sparsity_plots.weight_histograms(weights, bins=5)
    assert [ax.get_title() for ax in figure.axes] == ["Base", "L1"], (
        f"expected one panel per model, got {[ax.get_title() for ax in figure.axes]}")
    counts = [sum(patch.get_height() for patch in ax.patches) for ax in figure.axes]
    assert counts == [3, 5], f"expected every weight counted once, got {counts}"
    with pytest.raises(ValueError, match="weights"):
        sparsity_plots.weight_histograms({})


def test_overlays_grid_and_ssd_boxplot_shape():
    images, maps = torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8)
    figure = sparsity_plots.overlays(images, {"A": maps, "Δ": maps - maps}, ["x", "y"])
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2 * 3, f"expected 2 rows × 3 columns, got {len(panels)}"
    bars = [ax.get_ylabel() for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert bars == ["attribution", "difference"], (
        f"expected a colour bar for the maps and one for the differences, got {bars}")
    per_image = {"Base": {"sliding patch": np.ones(4), "Grad-CAM": np.zeros(4)},
                 "L1": {"sliding patch": np.ones(4), "Grad-CAM": np.zeros(4)}}
    figure = sparsity_plots.ssd_boxplot(per_image)
    titles = [ax.get_title().split(":")[0] for ax in figure.axes]
    assert titles == ["sliding patch", "Grad-CAM"], f"expected one panel per map, got {titles}"


def test_faithfulness_curves_one_panel_per_mode_random_map_dashed():
    index = pd.Index([0.0, 0.5, 1.0], name="fraction of pixels")
    table = pd.DataFrame({"Grad-CAM": [0.9, 0.3, 0.1], "random": [0.9, 0.6, 0.1]}, index=index)
    figure = sparsity_plots.faithfulness_curves({"deletion": table, "insertion": table[::-1]})
    titles = [ax.get_title().split(" ")[0] for ax in figure.axes]
    assert titles == ["deletion", "insertion"], f"expected one panel per mode, got {titles}"
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert lines["random map"].get_linestyle() == "--", "expected the random map dashed"
    x = np.asarray(lines["Grad-CAM"].get_xdata())
    assert x.tolist() == pytest.approx([0, 50, 100]), f"expected fractions in %, got {x}"
    with pytest.raises(ValueError, match="curves"):
        sparsity_plots.faithfulness_curves({})
