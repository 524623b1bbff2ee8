"""helpers.attribution against pytorch-grad-cam and captum; state restoration; SSD, trust.
(The stand-in masks and the cue of helpers.sparsity: test_sparsity.py; LIME: test_lime.py;
deletion/insertion and run-to-run agreement: test_faithfulness.py.)"""

import pytest
import torch
from captum.attr import GuidedBackprop, GuidedGradCam, LayerAttribution, LayerGradCam, Occlusion
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from helpers import attribution, sparsity
from helpers.models import Classifier, build_model


@pytest.fixture
def model_and_batch():
    torch.manual_seed(0)
    model = sparsity.cam_cnn(width=4).eval()
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(5, 3, 32, 32, generator=generator)
    targets = torch.tensor([0, 3, 3, 7, 9])
    return model, sparsity.cam_layer(model), images, targets


def _reference(method, model, layer, images, targets):
    with method(model=model, target_layers=[layer]) as explainer:
        maps = explainer(input_tensor=images,
                         targets=[ClassifierOutputTarget(int(t)) for t in targets])
    return torch.from_numpy(maps)


def test_grad_cam_equals_pytorch_grad_cam(model_and_batch):
    model, layer, images, targets = model_and_batch
    ours = attribution.grad_cam(model, images, layer, targets)
    assert ours.shape == (5, 32, 32), f"expected maps (5, 32, 32), got {tuple(ours.shape)}"
    theirs = _reference(GradCAM, model, layer, images, targets)
    gap = (ours - theirs).abs().max().item()
    assert gap <= 1e-5, f"expected pytorch-grad-cam's maps, largest difference {gap}"


def test_grad_cam_equals_captum_layer_grad_cam_upsampled(model_and_batch):
    model, layer, images, targets = model_and_batch
    theirs = LayerGradCam(model, layer).attribute(images, target=targets,
                                                  relu_attributions=True)
    theirs = LayerAttribution.interpolate(theirs, (32, 32), interpolate_mode="bilinear")
    theirs = attribution.normalize_maps(theirs.detach()[:, 0])
    gap = (attribution.grad_cam(model, images, layer, targets) - theirs).abs().max().item()
    assert gap <= 1e-5, f"expected captum's upsampled maps, largest difference {gap}"


def test_grad_cam_plus_plus_equals_pytorch_grad_cam(model_and_batch):
    model, layer, images, targets = model_and_batch
    ours = attribution.grad_cam_plus_plus(model, images, layer, targets)
    theirs = _reference(GradCAMPlusPlus, model, layer, images, targets)
    gap = (ours - theirs).abs().max().item()
    assert gap <= 1e-5, f"expected pytorch-grad-cam's Grad-CAM++, largest difference {gap}"


def test_cam_is_the_class_score_and_grad_cam_its_positive_part():
    """Without pooling before the last layer the maps need no upsampling, so CAM's mean
    is exactly the class score minus the bias, and Grad-CAM is normalize(ReLU(CAM))."""
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model = Classifier(features, 5, 4).eval()
    images, targets = torch.rand(3, 3, 6, 6), torch.tensor([0, 1, 3])
    raw = attribution.cam(model, images, features[3], targets, normalize=False)
    logits = model(images).detach()
    expected = logits[torch.arange(3), targets] - model.fc.bias.detach()[targets]
    means = raw.mean(dim=(1, 2))
    assert torch.allclose(means, expected, atol=1e-5), (
        f"expected CAM's means = Y^c - b_c = {expected.tolist()}, got {means.tolist()}")
    grad_cam = attribution.grad_cam(model, images, features[3], targets)
    gap = (grad_cam - attribution.normalize_maps(torch.relu(raw))).abs().max().item()
    assert gap <= 1e-5, f"expected Grad-CAM = normalize(ReLU(CAM)), largest difference {gap}"
    by_name = attribution.cam(model, images, "features.3", targets, normalize=False)
    assert torch.equal(by_name, raw), "the layer given by its name should give the same maps"
    with pytest.raises(ValueError, match="layer"):
        attribution.cam(model, images, features[1], targets)  # 6 channels, head reads 5


@pytest.mark.parametrize("window, stride, baseline", [(4, 2, 0.5), (2, 2, 0.5), (3, 2, 0.0)])
def test_occlusion_equals_captum(model_and_batch, window, stride, baseline):
    """Sign convention: both give the drop of the class logit, Y(x) − Y(x occluded),
    averaged over the patches covering each pixel."""
    model, _, images, targets = model_and_batch
    ours = attribution.occlusion(model, images, targets, window=window, stride=stride,
                                 baseline=baseline, normalize=False, batch_size=64)
    theirs = Occlusion(model).attribute(images, sliding_window_shapes=(3, window, window),
                                        strides=(3, stride, stride), baselines=baseline,
                                        target=targets)
    covered = theirs[:, 0]   # captum's channels are equal: the window spans them all
    gap = (ours - covered).abs().max().item()
    assert gap <= 1e-5, f"expected captum's occlusion, largest difference {gap}"


def test_occlusion_finds_the_pixels_the_model_reads():
    """A 'model' whose class-0 score is the mean of a 4x4 top-left block."""
    class Corner(nn.Module):
        def forward(self, x):
            score = x[:, :, :4, :4].mean(dim=(1, 2, 3))
            return torch.stack([score, -score], dim=1)

    model = Corner()
    model.register_parameter("unused", nn.Parameter(torch.zeros(1)))
    images = torch.ones(2, 3, 16, 16)
    maps = attribution.occlusion(model, images, torch.tensor([0, 0]), window=4, stride=4)
    assert torch.equal(maps[:, :4, :4], torch.ones(2, 4, 4)), (
        f"expected 1 on the block the model reads, got {maps[0, :4, :4].tolist()}")
    outside = max(maps[:, 4:, :].abs().max().item(), maps[:, :, 4:].abs().max().item())
    assert outside == 0, f"expected 0 outside the block, got up to {outside}"


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_plus_plus", "cam", "occlusion",
                                    "guided_backprop", "guided_grad_cam"])
def test_methods_restore_the_model_even_when_they_raise(model_and_batch, method):
    model, layer, images, _ = model_and_batch
    model.train()
    model.features[0].weight.requires_grad_(False)
    function = getattr(attribution, method)
    call = ((lambda t: function(model, images, t)) if method in ("occlusion", "guided_backprop")
            else (lambda t: function(model, images, layer, t)))
    call(None)
    with pytest.raises((IndexError, RuntimeError)):
        call(torch.full((5,), 42))     # no class 42: fails inside the computation
    assert model.training and all(m.training for m in model.modules()), (
        f"{method}: expected every module back in training mode")
    assert not model.features[0].weight.requires_grad, f"{method}: a frozen weight thawed"
    thawed = [name for name, p in model.named_parameters()
              if name != "features.0.weight" and not p.requires_grad]
    assert not thawed, f"{method}: expected these parameters trainable again: {thawed}"
    hooked = [name for name, m in model.named_modules() if m._forward_hooks or m._backward_hooks]
    assert not hooked, f"{method}: expected no hooks left, found some on {hooked}"


def _small_cnn_and_batch():
    """The kit's small CNN (BatchNorm, in-place ReLUs) in eval mode, images, targets."""
    torch.manual_seed(0)
    model = build_model("small_cnn", width=4).eval()
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    return model, model.features[10], images, torch.tensor([1, 2, 5, 8])


@pytest.mark.parametrize("network", ["cam_cnn", "small_cnn"])
def test_guided_backprop_and_guided_grad_cam_equal_captum(model_and_batch, network):
    """Tolerance 1e-5 relative to the largest value: an untrained net's gradients are small."""
    model, layer, images, targets = (model_and_batch if network == "cam_cnn"
                                     else _small_cnn_and_batch())
    ours = attribution.guided_backprop(model, images, targets, per_channel=True)
    theirs = GuidedBackprop(model).attribute(images, target=targets)
    gap, scale = (ours - theirs).abs().max().item(), theirs.abs().max().item()
    assert ours.shape == images.shape and scale > 0 and gap <= 1e-5 * scale, (
        f"expected captum's guided backprop {tuple(images.shape)}, got {tuple(ours.shape)}, "
        f"largest difference {gap} (values up to {scale})")
    ours = attribution.guided_grad_cam(model, images, layer, targets, per_channel=True)
    theirs = GuidedGradCam(model, layer).attribute(images, target=targets,
                                                   interpolate_mode="bilinear")
    gap, scale = (ours - theirs).abs().max().item(), theirs.abs().max().item()
    assert scale > 0 and gap <= 1e-5 * scale, (
        f"expected captum's Guided Grad-CAM, largest difference {gap} (values up to {scale})")
    maps = attribution.guided_grad_cam(model, images, layer, targets)
    expected = attribution.normalize_maps(theirs.abs().amax(1))
    assert maps.shape == (len(images), 32, 32) and torch.allclose(maps, expected, atol=1e-5), (
        "expected the maps to be the normalized channel maximum of |Guided Grad-CAM|")


def test_guided_backprop_passes_back_only_positive_gradients():
    """f(x) = 3·relu(x) − relu(2x) for one pixel x = 1: the plain gradient is 3 − 2 = 1;
    guided backprop drops the negative gradient −1 reaching the second ReLU: 3."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 2, bias=False), nn.ReLU(),
                          nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0], [2.0]]))
        model[3].weight.copy_(torch.tensor([[3.0, -1.0], [0.0, 0.0]]))
    image = torch.ones(1, 1, 1, 1)
    plain = torch.func.grad(lambda x: model(x)[0, 0])(image).item()
    guided = attribution.guided_backprop(model, image, torch.tensor([0]), per_channel=True)
    assert plain == pytest.approx(1.0) and guided.item() == pytest.approx(3.0), (
        f"expected the plain gradient 1 and the guided one 3, got {plain} and {guided.item()}")


def test_inputs_are_checked(model_and_batch):
    model, layer, images, targets = model_and_batch
    with pytest.raises(ValueError, match="images"):
        attribution.grad_cam(model, images[0], layer, targets)
    with pytest.raises(ValueError, match="layer"):
        attribution.grad_cam(model, images, nn.ReLU(), targets)
    with pytest.raises(ValueError, match="targets"):
        attribution.grad_cam(model, images, layer, targets[:2])
    with pytest.raises(ValueError, match="window"):
        attribution.occlusion(model, images, window=0)
    with pytest.raises(ValueError, match="sigma"):
        attribution.gaussian_blur(images, 0)


def test_normalize_and_ssd():
    maps = torch.tensor([[[0.0, 1.0], [2.0, 4.0]], [[3.0, 3.0], [3.0, 3.0]]])
    normalized = attribution.normalize_maps(maps)
    assert torch.allclose(normalized[0], torch.tensor([[0.0, 0.25], [0.5, 1.0]])), (
        f"expected min-max [[0, 0.25], [0.5, 1]], got {normalized[0].tolist()}")
    assert torch.equal(normalized[1], torch.zeros(2, 2)), "constant maps become 0"
    flipped = torch.tensor([[[4.0, 2.0], [1.0, 0.0]]])
    got = attribution.ssd(maps[:1], flipped).item()
    assert got == pytest.approx(2.125), f"expected SSD 2.125 (hand-computed), got {got}"
    got = attribution.ssd(maps, 7 * maps + 1).tolist()
    assert got == pytest.approx([0, 0]), f"expected 0 for rescaled maps, got {got}"
    with pytest.raises(ValueError, match="same shape"):
        attribution.ssd(maps, maps[:1])


def test_gaussian_blur_keeps_constants_and_smooths():
    constant = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(attribution.gaussian_blur(constant, 0.5), constant), (
        "a constant image should stay constant")
    spike = torch.zeros(1, 1, 9, 9)
    spike[0, 0, 4, 4] = 1.0
    blurred = attribution.gaussian_blur(spike, 0.5)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5), (
        f"expected the blur to keep the mass 1, got {blurred.sum().item()}")
    centre, neighbour = blurred[0, 0, 4, 4].item(), blurred[0, 0, 4, 5].item()
    assert 0.5 < centre < 1.0 and neighbour > 0, (
        f"expected a lower peak (0.5, 1) spread to the neighbours, got {centre}, {neighbour}")


def test_trustworthiness_counts_correct_samples_looking_inside_the_mask():
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[:, :2, :2] = True
    maps = torch.zeros(3, 4, 4)
    maps[0, 0, 0] = 1.0            # looks inside
    maps[1, 3, 3] = 1.0            # looks outside
    maps[2, 1, 1] = 1.0            # inside, but misclassified: not counted
    correct = torch.tensor([True, True, False])
    got = attribution.trustworthiness(maps, masks, correct, fraction=1 / 16)
    assert got == 0.5, f"expected 1 of the 2 correct samples inside, got {got}"
    got = attribution.trustworthiness(maps, masks, torch.tensor([True, False, False]),
                                      fraction=1 / 16)
    assert got == 1.0, f"expected the one correct sample inside, got {got}"
    top = attribution.top_region(maps, fraction=2 / 16).sum(dim=(1, 2)).tolist()
    assert top == [2, 2, 2], f"expected 2 of 16 pixels per map, got {top}"
    with pytest.raises(ValueError, match="fraction"):
        attribution.top_region(maps, fraction=0)
    with pytest.raises(ValueError, match="masks"):
        attribution.trustworthiness(maps, masks[:, :2], correct)
