"""helpers.sparsity: the chapter's networks, named results, checkpoints, the planted cue
and the stand-in's object masks (the experiments' numbers: test_results_sparsity.py)."""

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import data, regularization, sparsity
from helpers.data import ImageDataset
from helpers.models import capture
from helpers.profiles import get_profile


def _tiny_set(count=32):
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(count) % 10
    images = (torch.rand(count, 3, 32, 32, generator=generator) * 255).to(torch.uint8)
    return ImageDataset(images, labels, name="toy", split="train", source="standin",
                        description="toy", classes=tuple(sparsity.CLASSES))


def test_cam_cnn_has_global_pooling_before_its_head_and_8x8_maps():
    model = sparsity.cam_cnn(width=4)
    layers = sparsity.hidden_layers(model)
    assert len(layers) == 3 and all(isinstance(m, nn.ReLU) for m in layers), (
        f"expected the three ReLUs as hidden layers, got {layers}")
    with capture(sparsity.cam_layer(model)) as maps:
        logits = model(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 10), f"expected logits (2, 10), got {tuple(logits.shape)}"
    assert maps[0].shape == (2, 16, 8, 8), f"expected A (2, 16, 8, 8), got {tuple(maps[0].shape)}"
    with pytest.raises(ValueError, match="width"):
        sparsity.cam_cnn(width=0)
    with pytest.raises(ValueError, match="arch"):
        sparsity.build("vgg")


def test_train_regularized_is_named_and_reloads_its_checkpoint(tmp_path, capsys):
    path = tmp_path / "l1.pt"
    settings = dict(alpha=0.5, width=2, epochs=1, batch_size=16, seed=0, progress=False)
    first = sparsity.train_regularized(_tiny_set(), "l1", 1e-3, checkpoint=path, **settings)
    assert path.exists(), "expected the trained model saved at the checkpoint path"
    again = sparsity.train_regularized(_tiny_set(), "l1", 1e-3, checkpoint=path, **settings)
    assert "loaded checkpoint" in capsys.readouterr().out, "expected the second call to reload"
    assert again.history == first.history, "the reloaded history differs"
    for (name, a), b in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), f"reloaded weights differ in {name}"


def test_density_sweep_names_one_checkpoint_per_lambda(tmp_path):
    asked = []

    def checkpoint(lam):
        asked.append(lam)
        return tmp_path / f"density-{lam:g}.pt"

    table = sparsity.density_sweep(_tiny_set(), _tiny_set(16), [0, 1e-4], width=2, epochs=1,
                                   batch_size=16, progress=False, checkpoint=checkpoint)
    assert asked == [0, 1e-4], f"expected one checkpoint per λ, asked for {asked}"
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["density-0.0001.pt", "density-0.pt"], f"got files {files}"
    assert list(table.columns) == ["accuracy", "density"], f"got columns {list(table.columns)}"
    assert table["density"].between(0, 1).all(), f"expected densities in [0, 1]: {table}"


def test_stability_table_is_named_and_zero_for_identical_maps():
    torch.manual_seed(0)
    model = sparsity.cam_cnn(width=2).eval()
    images = torch.rand(3, 3, 32, 32)
    result = sparsity.stability_table({"Base": model}, images, sigma=0.5)
    assert set(result.per_image["Base"]) == {"sliding patch", "Grad-CAM"}, (
        f"expected the two comparisons, got {set(result.per_image['Base'])}")
    assert list(result.table.columns) == ["Base"], f"got columns {list(result.table.columns)}"
    ssd = result.per_image["Base"]["Grad-CAM"]
    assert ssd.shape == (3,) and (ssd >= 0).all(), f"expected 3 SSDs >= 0, got {ssd}"


def test_masks_match_the_standin_images():
    """The stand-in's object masks belong to the very same images data.load draws."""
    plain = sparsity.masked_test_set(20, seed=3, margin=0)
    dataset = data.load("cifar10", "test", size=20, source="standin", seed=3)
    assert torch.equal((plain.images * 255).round().to(torch.uint8), dataset.images), (
        "expected the masked set's images to be data.load's stand-in images")
    assert torch.equal(plain.labels, dataset.labels), "expected data.load's labels"
    coverage = plain.masks.float().mean(dim=(1, 2))
    assert plain.masks.dtype == torch.bool, f"expected bool masks, got {plain.masks.dtype}"
    assert (coverage > 0.02).all() and (coverage < 0.6).all(), (
        f"expected each object to cover 2–60 % of its image, got {coverage.tolist()}")
    grown = sparsity.masked_test_set(20, seed=3, margin=2).masks
    assert (grown | plain.masks).equal(grown) and grown.sum() > plain.masks.sum(), (
        "expected the margin to grow each mask without losing pixels")


def test_cue_paints_the_class_colour_into_the_corner():
    images = torch.rand(4, 3, 8, 8)
    labels = torch.tensor([0, 1, 2, 2])
    cued = sparsity.with_cue(images, labels, size=2)
    assert torch.equal(cued[:, :, 2:, :], images[:, :, 2:, :]), "pixels off the corner changed"
    assert torch.equal(cued[2, :, :2, :2], cued[3, :, :2, :2]), "same class, other colour"
    assert not torch.equal(cued[0, :, :2, :2], cued[1, :, :2, :2]), "two classes, one colour"
    assert torch.equal(cued[0, :, 0, 0], sparsity.CUE_COLOURS[0]), (
        f"expected class 0's colour {sparsity.CUE_COLOURS[0].tolist()}, got "
        f"{cued[0, :, 0, 0].tolist()}")


def test_model_summary_reports_density_and_zero_weights():
    torch.manual_seed(0)
    model = sparsity.cam_cnn(width=2)
    with torch.no_grad():
        model.fc.weight.zero_()
    row = sparsity.model_summary({"m": model}, _tiny_set(16)).loc["m"]
    zeros = regularization.sparsity_of_weights(model)
    assert row["zero weights"] == pytest.approx(zeros) and zeros > 0, (
        f"expected the zeroed head counted ({zeros}), got {row['zero weights']}")
    assert 0 <= row["density"] <= 1, f"expected a density in [0, 1], got {row['density']}"


def test_chapter_page_states_the_tiny_density_sweep():
    """index.md says which λs the tiny sweep trains; it must match the profile."""
    page = (Path(__file__).parents[1] / "book" / "sparsity" / "index.md").read_text()
    page = " ".join(page.split())  # independent of where the lines wrap
    start = page.index("the `tiny` profile trains λ = ")
    sentence = page[start:page.index(" only", start)]
    stated = [10.0 ** int(e) for e in re.findall(r"10\^\{(-?\d+)\}", sentence)]
    if "λ = 0," in sentence:
        stated.insert(0, 0.0)
    tiny = sorted(get_profile("tiny").sparsity.density_lambdas)
    assert sorted(stated) == pytest.approx(tiny), (
        f"expected the page to state the tiny sweep's λs {tiny}, it states {stated}")
