"""helpers.sparsity: the chapter's networks, named results, checkpoints, the planted cue
and the stand-in's object masks (the experiments' numbers: test_results_sparsity.py)."""

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers import data, faithfulness, regularization, sparsity
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


def test_explanation_maps_give_every_method_normalized_maps():
    torch.manual_seed(0)
    model = sparsity.cam_cnn(width=2).eval()
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    maps = sparsity.explanation_maps(model, images, torch.tensor([1, 2]), lime_samples=20)
    assert tuple(maps) == sparsity.EXPLANATIONS, (
        f"expected one entry per method {sparsity.EXPLANATIONS}, got {tuple(maps)}")
    for method, values in maps.items():
        assert values.shape == (2, 32, 32), (
            f"{method}: expected maps (2, 32, 32), got {tuple(values.shape)}")
        assert 0 <= values.min() and values.max() <= 1, (
            f"{method}: expected values in [0, 1], got {values.min():.3f} … {values.max():.3f}")
    lime_cells = maps["LIME"][0].unfold(0, 4, 4).unfold(1, 4, 4).flatten(2)
    assert torch.equal(lime_cells.amax(-1), lime_cells.amin(-1)), (
        "expected LIME constant on each 4×4 grid cell")


def test_mean_deletion_curves_are_the_mean_of_deletion_curves():
    torch.manual_seed(0)
    model = sparsity.cam_cnn(width=2).eval()
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([0, 1, 2])
    maps = {"a": torch.rand(3, 16, 16), "b": torch.rand(3, 16, 16)}
    curves = sparsity.mean_deletion_curves(model, images, maps, targets, steps=4)
    assert set(curves) == {"deletion", "insertion"}, f"expected both modes, got {set(curves)}"
    table = curves["deletion"]
    assert list(table.columns) == ["a", "b"], (
        f"expected one column per method, got {list(table.columns)}")
    assert table.index.tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1]), (
        f"expected fractions 0 … 1 in 4 steps, got {table.index.tolist()}")
    expected = faithfulness.deletion_curves(model, images, maps["b"], targets, steps=4)
    assert table["b"].to_numpy() == pytest.approx(expected.scores.mean(0).numpy()), (
        f"expected the mean deletion curve {expected.scores.mean(0).tolist()}, "
        f"got {table['b'].tolist()}")


def test_train_seeds_reuses_known_runs_and_trains_the_others(tmp_path):
    known = sparsity.cam_cnn(width=2)
    settings = dict(width=2, epochs=1, batch_size=16, progress=False)
    runs = sparsity.train_seeds(_tiny_set(), [0, 1], known={0: known},
                                checkpoint=lambda s: tmp_path / f"seed-{s}.pt", **settings)
    assert list(runs) == ["seed 0", "seed 1"], f"expected one run per seed, got {list(runs)}"
    assert runs["seed 0"] is known, "expected the known seed-0 model reused"
    assert (tmp_path / "seed-1.pt").exists(), "expected seed 1 trained and saved"
    again = sparsity.train_regularized(_tiny_set(), "none", 0.0, seed=1, **settings).model
    for (name, a), b in zip(runs["seed 1"].state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), f"seed 1: expected the unpenalized recipe, {name} differs"
    with pytest.raises(ValueError, match="seeds"):
        sparsity.train_seeds(_tiny_set(), [3, 3], **settings)


def test_train_regularized_records_the_validation_set_every_epoch():
    run = sparsity.train_regularized(_tiny_set(), "l2", 1e-3, width=2, epochs=2, batch_size=16,
                                     val_set=_tiny_set(16), progress=False)
    assert len(run.history["val_acc"]) == 2 and len(run.history["val_loss"]) == 2, (
        f"expected validation accuracy and loss for both epochs, got {run.history}")


def test_chapter_page_states_the_profiles_seeds_and_deletion_steps():
    """index.md says how many seeds the run-to-run study trains per profile and the tiny
    profile's deletion steps; they must match the profiles."""
    page = " ".join((Path(__file__).parents[1] / "book" / "sparsity" / "index.md")
                    .read_text().split())
    words = {2: "two", 3: "three", 4: "four", 5: "five"}
    seeds = {name: len(get_profile(name).sparsity.variability_seeds)
             for name in ("tiny", "quick", "full")}
    assert seeds["quick"] == seeds["full"], f"the page states one count for both: {seeds}"
    stated = (f"({words[seeds['tiny']]} in `tiny`, {words[seeds['quick']]} in `quick` and "
              "`full`)")
    assert stated in page, f"expected the page to state the seeds per profile {stated!r}"
    steps = f"{{math}}`K` = {get_profile('tiny').sparsity.deletion_steps} in the `tiny` profile"
    assert steps in page, f"expected the page to state the tiny deletion steps {steps!r}"
