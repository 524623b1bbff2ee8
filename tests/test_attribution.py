"""helpers.attribution against pytorch-grad-cam and captum; state restoration; SSD, trust."""

import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam, Occlusion
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from helpers import attribution, sparsity
from helpers.models import Classifier


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
    assert ours.shape == (5, 32, 32)
    assert torch.allclose(ours, _reference(GradCAM, model, layer, images, targets), atol=1e-5)


def test_grad_cam_equals_captum_layer_grad_cam_upsampled(model_and_batch):
    model, layer, images, targets = model_and_batch
    theirs = LayerGradCam(model, layer).attribute(images, target=targets,
                                                  relu_attributions=True)
    theirs = LayerAttribution.interpolate(theirs, (32, 32), interpolate_mode="bilinear")
    theirs = attribution.normalize_maps(theirs.detach()[:, 0])
    assert torch.allclose(attribution.grad_cam(model, images, layer, targets), theirs,
                          atol=1e-5)


def test_grad_cam_plus_plus_equals_pytorch_grad_cam(model_and_batch):
    model, layer, images, targets = model_and_batch
    ours = attribution.grad_cam_plus_plus(model, images, layer, targets)
    theirs = _reference(GradCAMPlusPlus, model, layer, images, targets)
    assert torch.allclose(ours, theirs, atol=1e-5)


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
    assert torch.allclose(raw.mean(dim=(1, 2)), expected, atol=1e-5)
    assert torch.allclose(attribution.grad_cam(model, images, features[3], targets),
                          attribution.normalize_maps(torch.relu(raw)), atol=1e-5)


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
    assert torch.allclose(ours, covered, atol=1e-5)


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
    assert torch.equal(maps[:, :4, :4], torch.ones(2, 4, 4))
    assert maps[:, 4:, :].abs().max() == 0 and maps[:, :, 4:].abs().max() == 0


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_plus_plus", "cam", "occlusion"])
def test_methods_restore_the_model_even_when_they_raise(model_and_batch, method):
    model, layer, images, _ = model_and_batch
    model.train()
    model.features[0].weight.requires_grad_(False)
    function = getattr(attribution, method)
    call = ((lambda t: function(model, images, t)) if method == "occlusion"
            else (lambda t: function(model, images, layer, t)))
    call(None)
    with pytest.raises((IndexError, RuntimeError)):
        call(torch.full((5,), 42))     # no class 42: fails inside the computation
    assert model.training and all(m.training for m in model.modules())
    assert not model.features[0].weight.requires_grad
    assert all(p.requires_grad for name, p in model.named_parameters()
               if name != "features.0.weight")
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())


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
    assert torch.allclose(normalized[0], torch.tensor([[0.0, 0.25], [0.5, 1.0]]))
    assert torch.equal(normalized[1], torch.zeros(2, 2)), "constant maps become 0"
    flipped = torch.tensor([[[4.0, 2.0], [1.0, 0.0]]])
    assert torch.allclose(attribution.ssd(maps[:1], flipped), torch.tensor([2.125]))
    assert torch.allclose(attribution.ssd(maps, 7 * maps + 1), torch.zeros(2))
    with pytest.raises(ValueError, match="same shape"):
        attribution.ssd(maps, maps[:1])


def test_gaussian_blur_keeps_constants_and_smooths():
    constant = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(attribution.gaussian_blur(constant, 0.5), constant)
    spike = torch.zeros(1, 1, 9, 9)
    spike[0, 0, 4, 4] = 1.0
    blurred = attribution.gaussian_blur(spike, 0.5)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert 0.5 < blurred[0, 0, 4, 4] < 1.0 and blurred[0, 0, 4, 5] > 0


def test_trustworthiness_counts_correct_samples_looking_inside_the_mask():
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[:, :2, :2] = True
    maps = torch.zeros(3, 4, 4)
    maps[0, 0, 0] = 1.0            # looks inside
    maps[1, 3, 3] = 1.0            # looks outside
    maps[2, 1, 1] = 1.0            # inside, but misclassified: not counted
    correct = torch.tensor([True, True, False])
    assert attribution.trustworthiness(maps, masks, correct, fraction=1 / 16) == 0.5
    assert attribution.trustworthiness(maps, masks, torch.tensor([True, False, False]),
                                       fraction=1 / 16) == 1.0
    top = attribution.top_region(maps, fraction=2 / 16)
    assert top.sum(dim=(1, 2)).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="masks"):
        attribution.trustworthiness(maps, masks[:, :2], correct)


def test_masks_match_the_standin_images():
    """The stand-in's object masks belong to the very same images data.load draws."""
    from helpers import data

    images, labels, masks = sparsity.masked_test_set(20, seed=3, margin=0)
    dataset = data.load("cifar10", "test", size=20, source="standin", seed=3)
    assert torch.equal((images * 255).round().to(torch.uint8), dataset.images)
    assert torch.equal(labels, dataset.labels)
    coverage = masks.float().mean(dim=(1, 2))
    assert masks.dtype == torch.bool and (coverage > 0.02).all() and (coverage < 0.6).all()
    _, _, grown = sparsity.masked_test_set(20, seed=3, margin=2)
    assert (grown | masks).equal(grown) and grown.sum() > masks.sum()


def test_cue_paints_the_class_colour_into_the_corner():
    images = torch.rand(4, 3, 8, 8)
    labels = torch.tensor([0, 1, 2, 2])
    cued = sparsity.with_cue(images, labels, size=2)
    assert torch.equal(cued[:, :, 2:, :], images[:, :, 2:, :])
    assert torch.equal(cued[2, :, :2, :2], cued[3, :, :2, :2])
    assert not torch.equal(cued[0, :, :2, :2], cued[1, :, :2, :2])
