"""helpers.lime: LIME for images against captum's Lime, and on a model whose answer is known."""

import math

import pytest
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import Lime
from captum.attr._core.lime import get_exp_kernel_similarity_function
from sklearn.linear_model import Ridge
from torch import nn

from helpers import lime, sparsity


def test_grid_segments_number_cells_row_by_row():
    segments = lime.grid_segments(5, 6, cell=4)
    expected = torch.tensor([[0, 0, 0, 0, 1, 1]] * 4 + [[2, 2, 2, 2, 3, 3]])
    assert torch.equal(segments, expected), (
        f"expected {expected.tolist()}, got {segments.tolist()}")
    with pytest.raises(ValueError, match="cell"):
        lime.grid_segments(5, 6, cell=0)


def test_random_masks_keep_the_first_sample_whole_and_half_of_the_rest():
    masks = lime.random_masks(2, 400, 16, seed=3)
    assert masks.shape == (2, 400, 16) and masks[:, 0].all(), (
        f"expected (2, 400, 16) with an all-kept first sample, got {tuple(masks.shape)}")
    share = masks[:, 1:].float().mean().item()
    assert 0.45 < share < 0.55, f"expected about half the segments kept, got {share:.3f}"
    assert torch.equal(masks, lime.random_masks(2, 400, 16, seed=3)), (
        "expected the same draw per seed")


def test_kernel_weights_on_the_cosine_distance_to_the_whole_image():
    masks = torch.tensor([[True] * 4, [True, False, True, False], [False] * 4])
    got = lime.kernel_weights(masks, kernel_width=0.25).tolist()
    half = math.exp(-(1 - math.sqrt(0.5)) ** 2 / 0.25 ** 2)
    expected = [1.0, half, math.exp(-1 / 0.25 ** 2)]
    assert got == pytest.approx(expected, rel=1e-5), f"expected {expected}, got {got}"


def test_weighted_ridge_equals_scikit_learn():
    generator = torch.Generator().manual_seed(0)
    features = (torch.rand(50, 6, generator=generator) < 0.5).float()
    targets = features @ torch.arange(6.0) + 0.1 * torch.randn(50, generator=generator)
    weights = torch.rand(50, generator=generator)
    coefficients, intercept = lime.weighted_ridge(features, targets, weights, alpha=0.7)
    reference = Ridge(alpha=0.7).fit(features.numpy(), targets.numpy(),
                                     sample_weight=weights.numpy())
    assert coefficients.numpy() == pytest.approx(reference.coef_, abs=1e-4), (
        f"expected scikit-learn's {reference.coef_}, got {coefficients.tolist()}")
    assert intercept.item() == pytest.approx(reference.intercept_, abs=1e-4), (
        f"expected the intercept {reference.intercept_}, got {intercept.item()}")


def test_lime_equals_captum_lime_on_the_same_samples():
    """Same segmentation (4×4 grid of 8-pixel cells), same binary samples (handed to captum
    by a generator), captum's own exponential kernel on the binary vectors (its width
    σ/√2: captum's kernel is exp(−d²/2w²)), captum's scikit-learn ridge. Tolerance:
    1e-4 × the largest weight (float32 in scikit-learn against our float64)."""
    torch.manual_seed(0)
    model = sparsity.cam_cnn(width=4).eval()
    with torch.no_grad():
        model.fc.weight.mul_(30)     # a confident model: the probabilities move
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([3, 7])
    ours = lime.lime(model, images, targets, cell=8, samples=120, seed=5, kernel_width=0.25)
    masks = lime.random_masks(2, 120, 16, seed=5)
    kernel = get_exp_kernel_similarity_function("cosine", kernel_width=0.25 / math.sqrt(2))

    def similarity(_inputs, _perturbed, binary, **_kwargs):
        return kernel(torch.ones_like(binary), binary, None)

    segments = lime.grid_segments(32, 32, 8).view(1, 1, 32, 32)
    for index in range(2):
        def samples(_inputs, **_kwargs):
            for mask in masks[index]:
                yield mask.float().unsqueeze(0)

        explainer = Lime(lambda x: model(x).softmax(1),
                         interpretable_model=SkLearnRidge(alpha=1.0),
                         similarity_func=similarity, perturb_func=samples)
        theirs = explainer.attribute(images[index:index + 1], target=int(targets[index]),
                                     feature_mask=segments,
                                     baselines=0.5, n_samples=120, perturbations_per_eval=120,
                                     return_input_shape=False).flatten()
        gap, scale = (ours.weights[index] - theirs).abs().max().item(), theirs.abs().max().item()
        assert scale > 1e-3 and gap <= 1e-4 * scale, (
            f"image {index}: expected captum's weights (up to {scale:.4f}), "
            f"largest difference {gap:.2e}")


class TopLeft(nn.Module):
    """Class 0's logit grows with the brightness of the top-left 8×8 block."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(8.0))

    def forward(self, x):
        score = self.scale * (x[:, :, :8, :8].mean(dim=(1, 2, 3)) - 0.5)
        return torch.stack([score, -score], dim=1)


def test_lime_finds_the_segment_the_model_reads():
    images = torch.ones(2, 3, 16, 16)
    result = lime.lime(TopLeft(), images, torch.tensor([0, 1]), cell=8, samples=200)
    assert result.weights.shape == (2, 4) and result.maps.shape == (2, 16, 16), (
        f"expected weights (2, 4) and maps (2, 16, 16), got {tuple(result.weights.shape)}, "
        f"{tuple(result.maps.shape)}")
    first, second = result.weights.tolist()
    assert first[0] > 0.1 and max(abs(w) for w in first[1:]) < 0.01, (
        f"expected a large weight on segment 0 only for class 0, got {first}")
    assert second[0] < -0.1, f"expected segment 0 to count against class 1, got {second}"
    assert torch.equal(result.maps[0, :8, :8], torch.ones(8, 8)), (
        "expected the normalized map at 1 on the block the model reads")
    raw = lime.lime(TopLeft(), images, torch.tensor([0, 1]), cell=8, samples=200, normalize=False)
    assert raw.maps[1, 0, 0].item() == pytest.approx(second[0]), (
        f"expected the raw map to paint each segment with its weight {second[0]}, "
        f"got {raw.maps[1, 0, 0].item()}")
    assert torch.equal(raw.weights, result.weights), "expected the same weights per seed"


def test_lime_takes_a_segmentation_and_checks_its_inputs():
    images = torch.ones(1, 3, 16, 16)
    halves = torch.zeros(16, 16, dtype=torch.long)
    halves[:, 8:] = 1
    result = lime.lime(TopLeft(), images, segments=halves, samples=50)
    assert result.weights.shape == (1, 2) and result.weights[0, 0] > result.weights[0, 1], (
        f"expected 2 segments, the left half weighing more, got {result.weights.tolist()}")
    with pytest.raises(ValueError, match="segments"):
        lime.lime(TopLeft(), images, segments=halves[:8])
    with pytest.raises(TypeError, match="segments"):
        lime.lime(TopLeft(), images, segments=halves.float())
    with pytest.raises(ValueError, match="targets"):
        lime.lime(TopLeft(), images, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="samples"):
        lime.lime(TopLeft(), images, samples=0)
