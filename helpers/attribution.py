"""Attribution maps and how to judge them: CAM, Grad-CAM, Grad-CAM++, guided backpropagation,
Guided Grad-CAM, occlusion, SSD, trust. (LIME: :mod:`helpers.lime`; deletion/insertion
faithfulness and the run-to-run agreement of maps: :mod:`helpers.faithfulness`.)

Every map is a float tensor (N, H, W) at the input's resolution. Maps are compared only
after the same normalization, :func:`normalize_maps` (min-max per map to [0, 1]), which
every method here applies last. ``layer`` is the convolutional module whose output
feature maps ``A`` (N, K, h, w) the class-activation methods read; ``targets`` are the
classes explained (default: the predicted ones); ``layer`` may also be given by its dotted
name (:func:`helpers.models.get_layer`). The model is put in eval mode with frozen
parameters for the computation, and its modes and ``requires_grad`` flags are restored
afterwards (:func:`helpers.models.model_state_guard`); the feature maps are read with
:func:`helpers.models.capture`, whose hook is removed when its block ends, also on error
(so are the ReLU hooks of guided backpropagation).
"""

from __future__ import annotations

import math
from contextlib import ExitStack

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

from helpers import models
from helpers.checks import check_fraction, check_images, check_module, check_positive_int
from helpers.models import model_state_guard


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max each map of (N, H, W) to [0, 1]; a constant map becomes all zeros."""
    if not isinstance(maps, torch.Tensor) or maps.ndim != 3:
        raise ValueError("maps: expected a tensor (N, H, W).")
    flat = maps.flatten(1)
    low, high = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = high - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(1e-12), torch.zeros_like(flat))
    return scaled.view_as(maps)


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (half-pixel centres) of (N, h, w) maps to ``size``."""
    return F.interpolate(maps.unsqueeze(1), size=size, mode="bilinear",
                         align_corners=False).squeeze(1)


def _activations_and_gradients(model, images, layer, targets):
    """Feature maps A (N, K, h, w) of ``layer`` and the gradients ∂Y^c/∂A (same shape)."""
    with models.capture(layer, detach=False) as captured:  # the graph, for ∂Y^c/∂A
        logits = model(images.clone().requires_grad_(True))
    if len(captured) != 1 or captured[0].ndim != 4:
        raise ValueError("layer: expected a module that runs once per forward pass and "
                         "outputs feature maps (N, K, h, w).")
    targets = logits.argmax(1) if targets is None else targets
    score = logits.gather(1, targets.view(-1, 1)).sum()
    gradients, = torch.autograd.grad(score, captured[0])
    return captured[0].detach(), gradients


def grad_cam(model: nn.Module, images: torch.Tensor, layer: nn.Module | str,
             targets: torch.Tensor | None = None, normalize: bool = True) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017): ``L^c = ReLU(Σₖ w_k^c A^k)``, w = mean over i, j of
    ∂Y^c/∂A^k_ij; upsampled bilinearly to the image size and normalized (``normalize=False``:
    the raw, non-negative ``L^c``, as captum's ``LayerGradCam``). Returns (N, H, W)."""
    images, layer, targets = _check_inputs(model, images, layer, targets)
    with model_state_guard(model):
        activations, gradients = _activations_and_gradients(model, images, layer, targets)
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    maps = upsample(F.relu((weights * activations).sum(1)), images.shape[-2:])
    return normalize_maps(maps) if normalize else maps


def grad_cam_plus_plus(model: nn.Module, images: torch.Tensor, layer: nn.Module | str,
                       targets: torch.Tensor | None = None) -> torch.Tensor:
    """Grad-CAM++ (Chattopadhay et al. 2018) with the usual closed form of its weights:
    ``α = g² / (2g² + Σ_ab A_ab · g³)``, ``w_k = Σ_ij α_ij ReLU(g_ij)``, g = ∂S^c/∂A the
    gradient of the class logit S^c. The closed form holds for the score Y^c = exp(S^c)
    (its higher derivatives are exp(S^c)·g², exp(S^c)·g³; the factor cancels in α and
    only rescales w, which the normalization removes). Returns normalized maps (N, H, W)
    like :func:`grad_cam`."""
    images, layer, targets = _check_inputs(model, images, layer, targets)
    with model_state_guard(model):
        activations, gradients = _activations_and_gradients(model, images, layer, targets)
    squared = gradients.pow(2)
    total = activations.sum(dim=(2, 3), keepdim=True)
    alpha = squared / (2 * squared + total * squared * gradients + 1e-6)
    alpha = torch.where(gradients != 0, alpha, torch.zeros_like(alpha))
    weights = (alpha * F.relu(gradients)).sum(dim=(2, 3), keepdim=True)
    maps = F.relu((weights * activations).sum(1))
    return normalize_maps(upsample(maps, images.shape[-2:]))


# --- guided backpropagation -----------------------------------------------------------------

class _PositiveGradient(torch.autograd.Function):
    """The identity whose backward pass lets only positive gradients through:
    x ↦ x forward, g ↦ max(g, 0) backward."""

    @staticmethod
    def forward(ctx, tensor):
        return tensor.clone()

    @staticmethod
    def backward(ctx, gradient):
        return gradient.clamp_min(0)


def guided_backprop(model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None,
                    per_channel: bool = False) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al. 2015): the gradient ∂Y^c/∂x of the class
    logit in which every ``nn.ReLU`` module passes back only positive gradients where its
    input was positive (the ReLU's own mask × the deconvnet's clamp).

    ``per_channel=True`` returns the raw gradients (N, C, H, W), as captum's
    ``GuidedBackprop``; otherwise maps (N, H, W): the largest absolute value over the
    channels (Simonyan et al. 2014's reduction), normalized. ReLUs called as functions
    (``F.relu``) are not guided; the kit's models use modules. Each ReLU module gets a
    forward hook that routes its output through :class:`_PositiveGradient`; the hooks are
    removed when the computation ends, also on error.
    """
    images, _, targets = _check_inputs(model, images, None, targets)
    gradients = _guided_gradients(model, images, targets)
    if per_channel:
        return gradients
    return normalize_maps(gradients.abs().amax(1))


def _guided_gradients(model, images, targets):
    """∂Y^c/∂x (N, C, H, W) with guided ReLUs, model state and hooks restored afterwards."""
    relus = [module for module in model.modules() if isinstance(module, nn.ReLU)]

    def guide(_module, _inputs, output):
        return _PositiveGradient.apply(output)

    with model_state_guard(model), ExitStack() as hooks:
        for relu in relus:
            hooks.enter_context(models.forward_hook(relu, guide))
        inputs = images.clone().requires_grad_(True)
        logits = model(inputs)
        targets = logits.argmax(1) if targets is None else targets
        gradients, = torch.autograd.grad(logits.gather(1, targets.view(-1, 1)).sum(), inputs)
    return gradients


def guided_grad_cam(model: nn.Module, images: torch.Tensor, layer: nn.Module | str,
                    targets: torch.Tensor | None = None,
                    per_channel: bool = False) -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backpropagation × the raw Grad-CAM
    map upsampled bilinearly to the image: fine detail where Grad-CAM says the class is.

    ``per_channel=True`` returns (N, C, H, W), as captum's ``GuidedGradCam`` with
    ``interpolate_mode="bilinear"``; otherwise maps (N, H, W): the largest absolute
    value over the channels, normalized. ``targets`` default to the predicted classes
    (taken once, so both factors explain the same class).
    """
    images, layer, targets = _check_inputs(model, images, layer, targets)
    if targets is None:
        targets = models.logits(model, images).argmax(1).to(images.device)
    cams = grad_cam(model, images, layer, targets, normalize=False)
    combined = _guided_gradients(model, images, targets) * cams.unsqueeze(1)
    if per_channel:
        return combined
    return normalize_maps(combined.abs().amax(1))


def cam(model: nn.Module, images: torch.Tensor, layer: nn.Module | str,
        targets: torch.Tensor | None = None, normalize: bool = True) -> torch.Tensor:
    """Class activation map (Zhou et al. 2016): ``M^c = Σₖ w_k^c A^k``.

    Needs a model whose head ``model.fc`` sits right after global average pooling of
    ``layer``'s output (then ``Y^c = Σₖ w_k^c · mean_ij A^k_ij + b_c``). Returns maps
    (N, H, W), upsampled bilinearly; normalized unless ``normalize=False`` (raw ``M^c``,
    which can be negative: CAM keeps evidence against the class).
    """
    images, layer, targets = _check_inputs(model, images, layer, targets)
    head = getattr(model, "fc", None)
    if not isinstance(head, nn.Linear):
        raise ValueError("model: CAM needs a linear head `model.fc` after global pooling.")
    with models.capture(layer) as captured:
        logits = models.logits(model, images).to(images.device)
    activations = torch.cat(captured) if captured else None
    if (activations is None or activations.ndim != 4 or len(activations) != len(images)
            or activations.shape[1] != head.in_features):
        shape = None if activations is None else tuple(activations.shape)
        raise ValueError(f"layer: its outputs have shape {shape}; CAM needs "
                         f"(N, {head.in_features}, h, w) feeding the head through pooling.")
    targets = logits.argmax(1) if targets is None else targets
    weights = head.weight.detach()[targets].view(len(images), -1, 1, 1)
    maps = upsample((weights * activations).sum(1), images.shape[-2:])
    return normalize_maps(maps) if normalize else maps


def occlusion(model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None, *,
              window: int = 4, stride: int = 2, baseline: float = 0.5,
              batch_size: int = 256, normalize: bool = True) -> torch.Tensor:
    """Sliding-patch occlusion (Zeiler & Fergus 2014).

    A ``window``×``window`` patch of value ``baseline`` (grey) slides over the image with
    ``stride``, covering all channels. Each pixel's value is the mean, over the patches
    covering it, of the **drop of the class score** (logit) ``Y^c(x) − Y^c(x with patch)``:
    positive where hiding the pixel hurts the class. The patches step until every pixel
    is covered (the last one may overhang the border, cut to the image). With
    ``normalize=False`` the raw drops are returned (the same convention as captum's
    ``Occlusion``); otherwise the maps are normalized. Returns (N, H, W).
    """
    images, _, targets = _check_inputs(model, images, None, targets)
    check_positive_int("window", window)
    check_positive_int("stride", stride)
    height, width = images.shape[-2:]
    if window > min(height, width):
        raise ValueError(f"window={window}: larger than the image ({height}×{width}).")
    # as many steps as it takes to cover every pixel; the last patch may overhang the edge
    rows = [step * stride for step in range(math.ceil((height - window) / stride) + 1)]
    cols = [step * stride for step in range(math.ceil((width - window) / stride) + 1)]
    corners = [(top, left) for top in rows for left in cols]
    total = torch.zeros(len(images), height, width, device=images.device)
    count = torch.zeros(height, width, device=images.device)
    with model_state_guard(model), torch.no_grad():
        logits = model(images)
        targets = logits.argmax(1) if targets is None else targets
        reference = logits.gather(1, targets.view(-1, 1)).squeeze(1)
        per_batch = max(1, batch_size // len(images))
        for start in range(0, len(corners), per_batch):
            chunk = corners[start:start + per_batch]
            occluded = images.repeat(len(chunk), 1, 1, 1)
            for index, (top, left) in enumerate(chunk):
                block = occluded[index * len(images):(index + 1) * len(images)]
                block[..., top:top + window, left:left + window] = baseline
            scores = model(occluded).gather(1, targets.repeat(len(chunk)).view(-1, 1)).squeeze(1)
            drops = (reference.repeat(len(chunk)) - scores).view(len(chunk), len(images))
            for index, (top, left) in enumerate(chunk):
                total[:, top:top + window, left:left + window] += drops[index].view(-1, 1, 1)
                count[top:top + window, left:left + window] += 1
    maps = total / count.clamp_min(1)
    return normalize_maps(maps) if normalize else maps


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (N, C, H, W) images, kernel size ``2·ceil(3σ) + 1``, reflect padding."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError("images: expected a float tensor (N, C, H, W).")
    if not isinstance(sigma, (int, float)) or sigma <= 0:
        raise ValueError(f"sigma={sigma!r}: expected a positive number.")
    size = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(images, kernel_size=[size, size], sigma=[sigma, sigma])


def ssd(maps_a: torch.Tensor, maps_b: torch.Tensor) -> torch.Tensor:
    """Pixel-wise sum of squared differences between two sets of maps, (N, H, W) → (N,).

    Both are normalized with :func:`normalize_maps` first, so the SSD compares where a
    map points, not its scale; it lies in [0, H·W].
    """
    if not isinstance(maps_a, torch.Tensor) or not isinstance(maps_b, torch.Tensor):
        raise TypeError("maps_a, maps_b: expected tensors (N, H, W).")
    if maps_a.shape != maps_b.shape:
        raise ValueError(f"maps_a {tuple(maps_a.shape)} and maps_b {tuple(maps_b.shape)}: "
                         f"expected the same shape (N, H, W).")
    return (normalize_maps(maps_a) - normalize_maps(maps_b)).pow(2).flatten(1).sum(1)


def top_region(maps: torch.Tensor, fraction: float = 0.05) -> torch.Tensor:
    """Boolean (N, H, W): each map's ``fraction`` of pixels with the highest attribution."""
    check_fraction("fraction", fraction, low_open=True)
    flat = maps.flatten(1)
    keep = max(1, round(fraction * flat.shape[1]))
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    chosen.scatter_(1, flat.topk(keep, dim=1).indices, True)
    return chosen.view_as(maps)


def trustworthiness(maps: torch.Tensor, masks: torch.Tensor, correct: torch.Tensor,
                    fraction: float = 0.05, min_overlap: float = 0.5) -> float:
    """Share of correctly classified samples whose attribution points at the right region.

    ``maps`` (N, H, W) attributions; ``masks`` bool (N, H, W), the annotated
    discriminative region; ``correct`` bool (N,). A sample counts as trustworthy when at
    least ``min_overlap`` of its top-``fraction`` pixels (:func:`top_region`) lie inside
    its mask. Returns a fraction in [0, 1] (NaN when no sample is correct).
    """
    if maps.shape != masks.shape:
        raise ValueError(f"masks {tuple(masks.shape)}: expected the maps' shape {tuple(maps.shape)}.")
    if correct.shape != maps.shape[:1]:
        raise ValueError(f"correct: expected shape ({len(maps)},), got {tuple(correct.shape)}.")
    check_fraction("min_overlap", min_overlap)
    region = top_region(maps, fraction)
    inside = (region & masks.bool()).flatten(1).sum(1) / region.flatten(1).sum(1)
    correct = correct.bool()
    if not correct.any():
        return float("nan")
    return (inside[correct] >= min_overlap).float().mean().item()


def _check_inputs(model, images, layer, targets):
    """``images`` detached on the model's device, ``layer`` as a module of the model
    (None stays None) and ``targets`` as a long tensor (N,) or None, all checked."""
    check_module("model", model)
    check_images("images", images)
    layer = None if layer is None else models.get_layer(model, layer)
    device = models.model_device(model)
    images = images.detach().to(device)
    if targets is not None:
        targets = torch.as_tensor(targets, device=device).long()
        if targets.shape != (len(images),):
            raise ValueError(f"targets: expected shape ({len(images)},), got {tuple(targets.shape)}.")
    return images, layer, targets
