"""helpers.faithfulness: deletion/insertion curves on models whose best order is known,
the rank agreement of maps across runs, and the deletion check on a briefly trained CNN."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from helpers import attacks, attribution, data, faithfulness, sparsity


def _linear_model(weights: torch.Tensor, bias: float) -> nn.Module:
    """Logits (s, 0) with s = Σ weights·x + bias for one-channel images: P(class 0) = σ(s)."""
    height, width = weights.shape
    model = nn.Sequential(nn.Flatten(), nn.Linear(height * width, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0] = weights.flatten()
        model[1].bias.copy_(torch.tensor([bias, 0.0]))
    return model.eval()


def sigmoid(value: float) -> float:
    return 1 / (1 + math.exp(-value))


def test_deletion_of_the_one_pixel_that_matters_has_a_known_curve_and_auc():
    weights = torch.zeros(4, 4)
    weights[2, 1] = 10.0
    model = _linear_model(weights, bias=-5.0)
    images = torch.ones(1, 1, 4, 4)
    curves = faithfulness.deletion_curves(model, images, weights.unsqueeze(0),
                                          torch.tensor([0]), steps=16, baseline=0.0)
    expected = [sigmoid(5)] + [sigmoid(-5)] * 16
    assert curves.scores[0].tolist() == pytest.approx(expected, abs=1e-6), (
        f"expected σ(5) then σ(−5) once the pixel is gone, got {curves.scores[0].tolist()}")
    auc = (sigmoid(5) + sigmoid(-5)) / 2 / 16 + 15 * sigmoid(-5) / 16
    assert curves.auc.item() == pytest.approx(auc, abs=1e-6), (
        f"expected the trapezoid area {auc:.6f}, got {curves.auc.item():.6f}")
    assert curves.fractions.tolist() == pytest.approx([k / 16 for k in range(17)]), (
        f"expected fractions 0, 1/16, …, 1, got {curves.fractions.tolist()}")
    inserted = faithfulness.deletion_curves(model, images, weights.unsqueeze(0), mode="insertion",
                                            steps=16, baseline=0.0)
    expected = [sigmoid(-5)] + [sigmoid(5)] * 16
    assert inserted.scores[0].tolist() == pytest.approx(expected, abs=1e-6), (
        f"expected insertion σ(−5) then σ(5), got {inserted.scores[0].tolist()}")


def test_the_models_own_weights_are_the_most_faithful_order():
    """For a linear score, deleting the largest contributions first is optimal."""
    weights = torch.arange(16.0).view(4, 4) / 4 - 1
    model = _linear_model(weights, bias=-10.0)
    images = torch.ones(3, 1, 4, 4)
    maps = {"weights": weights.expand(3, 4, 4), "reversed": -weights.expand(3, 4, 4),
            "random": faithfulness.random_maps(3, 4, 4, seed=1)}
    table = faithfulness.faithfulness_table(model, images, maps, torch.zeros(3, dtype=torch.long),
                                            steps=8, baseline=0.0)
    assert list(table.index) == list(maps) and list(table.columns) == [
        "deletion AUC", "deletion SE", "insertion AUC", "insertion SE"], (
        f"expected one row per method and four columns, got {table.index}, {table.columns}")
    deletion, insertion = table["deletion AUC"], table["insertion AUC"]
    assert deletion["weights"] < deletion["random"] < deletion["reversed"], (
        f"expected deletion AUC weights < random < reversed, got {deletion.to_dict()}")
    assert insertion["weights"] > insertion["random"] > insertion["reversed"], (
        f"expected insertion AUC weights > random > reversed, got {insertion.to_dict()}")
    assert ((table[["deletion AUC", "insertion AUC"]] >= 0)
            & (table[["deletion AUC", "insertion AUC"]] <= 1)).all().all(), (
        f"expected AUCs in [0, 1], got {table.to_dict()}")


def test_deletion_curves_check_their_inputs():
    model = _linear_model(torch.ones(4, 4), 0.0)
    images, maps = torch.ones(2, 1, 4, 4), torch.rand(2, 4, 4)
    with pytest.raises(ValueError, match="maps"):
        faithfulness.deletion_curves(model, images, maps[:1])
    with pytest.raises(ValueError, match="mode"):
        faithfulness.deletion_curves(model, images, maps, mode="erase")
    with pytest.raises(ValueError, match="baseline"):
        faithfulness.deletion_curves(model, images, maps, baseline=torch.zeros(2, 1, 2, 2))
    blurred = faithfulness.deletion_curves(model, images, maps, mode="insertion",
                                           baseline=torch.zeros_like(images))
    plain = faithfulness.deletion_curves(model, images, maps, mode="insertion", baseline=0.0)
    assert torch.allclose(blurred.scores, plain.scores), (
        "expected a baseline image of zeros to act as the value 0")


def test_rank_agreement_is_spearmans_rho_averaged_over_pairs():
    generator = torch.Generator().manual_seed(0)
    first = torch.rand(2, 5, 5, generator=generator)
    first[0, :2] = 0.0                                     # ties, as Grad-CAM's zeros
    second = torch.rand(2, 5, 5, generator=generator)
    third = -first
    got = faithfulness.rank_agreement([first, second, third])
    for image in range(2):
        rho = [spearmanr(a[image].flatten(), b[image].flatten()).statistic
               for a, b in ((first, second), (first, third), (second, third))]
        assert got[image] == pytest.approx(np.mean(rho)), (
            f"image {image}: expected the mean of scipy's ρ {rho}, got {got[image]}")
    same = faithfulness.rank_agreement([first, first.clone() * 3])
    assert same == pytest.approx([1.0, 1.0]), f"expected ρ = 1 for rescaled maps, got {same}"
    flat = faithfulness.rank_agreement([torch.zeros(1, 3, 3), torch.rand(1, 3, 3)])
    assert np.isnan(flat[0]), f"expected NaN with a constant map, got {flat}"
    with pytest.raises(ValueError, match="at least 2"):
        faithfulness.rank_agreement([first])


def test_run_variability_on_fixed_models_and_maps():
    """Three 'runs' of a linear model on 4 one-channel images, maps given per run."""
    images = torch.zeros(4, 1, 4, 4)
    images[:2, :, 0, 0] = 1.0                              # class 0: a bright corner
    labels = torch.tensor([0, 0, 1, 1])
    masks = torch.zeros(4, 4, 4, dtype=torch.bool)
    masks[:, :2, :2] = True
    corner = torch.zeros(4, 4)
    corner[0, 0] = 1.0
    models = {f"seed {seed}": _linear_model(corner * 10, bias) for seed, bias in
              ((0, -5.0), (1, -5.0), (2, 5.0))}            # the third always says class 0
    inside, outside = torch.zeros(4, 4, 4), torch.zeros(4, 4, 4)
    inside[:, 0, 0], outside[:, 3, 3] = 1.0, 1.0
    outside += torch.linspace(0, 0.5, 16).view(4, 4)      # not constant: ranks defined
    given = {id(models["seed 0"]): inside, id(models["seed 1"]): inside + 0.01 * outside,
             id(models["seed 2"]): outside}
    result = faithfulness.run_variability(models, images, labels, masks,
                                          lambda model, x, t: given[id(model)],
                                          fraction=1 / 16)
    assert result.runs["accuracy"].tolist() == [1.0, 1.0, 0.5], (
        f"expected accuracies 1, 1, 0.5, got {result.runs['accuracy'].tolist()}")
    assert result.runs["trust"].tolist() == [1.0, 1.0, 0.0], (
        f"expected trust 1, 1 (corner inside the mask) and 0, got {result.runs['trust'].tolist()}")
    expected = np.mean([spearmanr(a.flatten(), b.flatten()).statistic for a, b in
                        ((inside[0], inside[0] + 0.01 * outside[0]), (inside[0], outside[0]),
                         (inside[0] + 0.01 * outside[0], outside[0]))])
    assert result.agreement == pytest.approx([expected] * 4), (
        f"expected every image's agreement {expected:.4f}, got {result.agreement}")
    summary = result.summary
    assert summary.loc["trust", "std"] == pytest.approx(np.std([1, 1, 0], ddof=1)), (
        f"expected the sample std of the trust scores, got {summary.loc['trust', 'std']}")
    assert summary.loc["accuracy", "min"] == 0.5 and summary.loc["accuracy", "max"] == 1.0, (
        f"expected accuracy from 0.5 to 1, got {summary.loc['accuracy'].to_dict()}")
    with pytest.raises(ValueError, match="at least 2"):
        faithfulness.run_variability({"one": models["seed 0"]}, images, labels, masks,
                                     lambda model, x, t: inside)


def test_grad_cam_and_occlusion_delete_faster_than_a_random_map():
    """Fidelity: on a briefly trained CNN (≈ 40 % on the stand-in's masked test images),
    the deletion AUC of Grad-CAM and of occlusion lies below a random map's."""
    train_set = data.load("cifar10", "train", 1000, source="standin", seed=0, verbose=False)
    model = sparsity.train_regularized(train_set, "none", 0.0, width=8, epochs=3, lr=1e-2,
                                       progress=False).model
    images = sparsity.masked_test_set(40, seed=0).images
    targets = attacks.predict_labels(model, images)
    maps = {"random": faithfulness.random_maps(40, 32, 32, seed=0),
            "Grad-CAM": attribution.grad_cam(model, images, sparsity.cam_layer(model), targets),
            "occlusion": attribution.occlusion(model, images, targets, window=4)}
    table = faithfulness.faithfulness_table(model, images, maps, targets)
    deletion = table["deletion AUC"]
    random = deletion["random"]
    assert deletion["Grad-CAM"] < random and deletion["occlusion"] < random, (
        f"expected Grad-CAM's and occlusion's deletion AUC below the random map's, got "
        f"{deletion.round(3).to_dict()}")
