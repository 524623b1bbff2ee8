"""helpers.backdoor_plots: the chapter's figures draw what they are given."""

import matplotlib
import numpy as np
import pytest
import torch

from helpers import backdoor, backdoor_plots
from helpers.data import ImageDataset

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def _clean(count=12, size=16):
    labels = torch.tensor([0, 1] * (count // 2))
    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    return ImageDataset(images, labels, name="pets", split="train", source="standin",
                        description="random", classes=("cat", "dog"))


def test_poisoned_grid_frames_exactly_the_poisoned_samples_in_red():
    data = backdoor.poison(_clean(), backdoor.make_trigger(3), 1, 0, fraction=1.0)
    fig = backdoor_plots.poisoned_grid(data, count=6, ncols=3)  # 3 of 6 poisoned
    red_frames = [ax for ax in fig.axes if ax.spines["top"].get_linewidth() == 3]
    assert len(red_frames) == 3, f"expected 3 red frames, got {len(red_frames)}"
    with pytest.raises(TypeError, match="PoisonedDataset"):
        backdoor_plots.poisoned_grid(_clean())


def test_triggered_predictions_titles_each_image_with_its_prediction():
    images = torch.rand(3, 3, 16, 16)
    probabilities = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    fig = backdoor_plots.triggered_predictions(
        {"clean": (images, probabilities), "with trigger": (images, probabilities.flip(1))},
        ("cat", "dog"))
    titles = [ax.get_title() for ax in fig.axes]
    expected = ["cat 90%", "dog 80%", "cat 60%", "dog 90%", "cat 80%", "dog 60%"]
    assert titles == expected, f"expected {expected}, got {titles}"
    with pytest.raises(ValueError, match="same number"):
        backdoor_plots.triggered_predictions({"clean": (images, probabilities[:2])},
                                             ("cat", "dog"))


def test_score_histograms_and_latent_projection_draw_one_panel_per_run():
    rng = np.random.default_rng(0)
    latents, labels = rng.normal(size=(40, 6)), np.arange(40) % 2
    poisoned = np.arange(40) >= 36
    fig = backdoor_plots.score_histograms({"plain": (latents[:, 0], poisoned),
                                           "adaptive": (latents[:, 1], poisoned)})
    assert len(fig.axes) == 2, f"expected 2 panels, got {len(fig.axes)}"
    fig = backdoor_plots.latent_projection({"plain": (latents, labels, poisoned)},
                                           ("cat", "dog"))
    points = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    assert points == 40, f"expected every latent drawn once, got {points} points"
    with pytest.raises(ValueError, match="empty"):
        backdoor_plots.score_histograms({})
