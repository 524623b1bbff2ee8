"""LIME for images (Ribeiro et al. 2016): a weighted linear surrogate of the model near one image.

For each image: split it into segments (superpixels: a grid of square cells by default,
or any segmentation passed in, e.g. scikit-image's ``slic``); draw random binary vectors
z ∈ {0, 1}^S that keep a segment (1) or paint it with ``baseline`` (0); read the model's
softmax probability of the explained class on each perturbed image; weigh each sample by
an exponential kernel of its cosine distance to the unperturbed image (z = 1); and fit a
weighted ridge regression ``p(z) ≈ b + Σ_s β_s z_s``. The coefficients β are the
segments' weights (in probability units: what keeping the segment adds); painting each
segment with its weight gives a per-pixel map (N, H, W) like the other methods of
:mod:`helpers.attribution`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from helpers.attribution import normalize_maps
from helpers.checks import check_images, check_module, check_positive_int
from helpers.models import model_device, model_state_guard


class LimeResult(NamedTuple):
    """What :func:`lime` returns."""
    weights: torch.Tensor   # (N, S) the surrogate's coefficient per segment
    maps: torch.Tensor      # (N, H, W) each pixel painted with its segment's weight
    segments: torch.Tensor  # (N, H, W) long, the segment id of each pixel


def grid_segments(height: int, width: int, cell: int = 4) -> torch.Tensor:
    """Square ``cell``×``cell`` superpixels: segment ids (H, W), long, numbered row by row
    (cells at the right and bottom border are cut to the image)."""
    check_positive_int("height", height)
    check_positive_int("width", width)
    check_positive_int("cell", cell)
    columns = -(-width // cell)
    rows = torch.arange(height).div(cell, rounding_mode="floor")
    cols = torch.arange(width).div(cell, rounding_mode="floor")
    return rows.view(-1, 1) * columns + cols.view(1, -1)


def random_masks(count: int, samples: int, features: int, seed: int = 0) -> torch.Tensor:
    """The perturbations of :func:`lime`: bool (count, samples, features), each entry kept
    with probability 1/2, drawn from ``torch.Generator().manual_seed(seed)``; the first
    sample of every image keeps everything (the unperturbed image anchors the fit, as in
    the ``lime`` package)."""
    for name, value in (("count", count), ("samples", samples), ("features", features)):
        check_positive_int(name, value)
    generator = torch.Generator().manual_seed(seed)
    masks = torch.rand(count, samples, features, generator=generator) < 0.5
    masks[:, 0] = True
    return masks


def kernel_weights(masks: torch.Tensor, kernel_width: float = 0.25) -> torch.Tensor:
    """``π(z) = exp(−d(z, 1)² / width²)`` with d the cosine distance between the binary
    vector z and the all-ones vector: ``d = 1 − sqrt(|z| / S)`` (1 for z = 0).
    ``masks`` bool (..., S) → weights in (0, 1], shape (...)."""
    if not isinstance(kernel_width, (int, float)) or kernel_width <= 0:
        raise ValueError(f"kernel_width={kernel_width!r}: expected a positive number.")
    kept = masks.float().mean(-1)
    distance = 1 - kept.sqrt()
    return torch.exp(-distance.pow(2) / kernel_width ** 2)


def weighted_ridge(features: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                   alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimize ``Σ_m w_m (y_m − b − x_m·β)² + α‖β‖²`` (the intercept b is not penalized,
    as in scikit-learn's ``Ridge``). ``features`` (M, S), ``targets`` (M,), ``weights``
    (M,) ≥ 0. Returns ``(β (S,), b)`` in float64: the closed form on the weighted-centred
    data, ``β = (XᵀWX + αI)⁻¹ XᵀWy``."""
    if not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError(f"alpha={alpha!r}: expected a positive regularization strength.")
    x, y, w = features.double(), targets.double(), weights.double()
    if x.ndim != 2 or y.shape != x.shape[:1] or w.shape != x.shape[:1]:
        raise ValueError(f"features {tuple(x.shape)}, targets {tuple(y.shape)}, weights "
                         f"{tuple(w.shape)}: expected (M, S), (M,), (M,).")
    total = w.sum()
    x_mean, y_mean = (w @ x) / total, (w @ y) / total
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ (w.unsqueeze(1) * xc) + alpha * torch.eye(x.shape[1], dtype=x.dtype)
    coefficients = torch.linalg.solve(gram, xc.T @ (w * yc))
    return coefficients, y_mean - x_mean @ coefficients


def lime(model: nn.Module, images: torch.Tensor, targets: torch.Tensor | None = None, *,
         segments: torch.Tensor | None = None, cell: int = 4, samples: int = 500,
         baseline: float = 0.5, kernel_width: float = 0.25, alpha: float = 1.0,
         seed: int = 0, batch_size: int = 256, normalize: bool = True) -> LimeResult:
    """LIME attributions of ``images`` (N, C, H, W) in [0, 1] for ``targets`` (N,)
    (default: the predicted classes).

    ``segments``: long (H, W) or (N, H, W) ids 0 … S−1 (default :func:`grid_segments`
    with ``cell``; an id missing from an image gets a weight near 0, fitted to noise); ``samples`` perturbations per image (:func:`random_masks` with
    ``seed``), hidden segments painted ``baseline``; :func:`kernel_weights` with
    ``kernel_width``; :func:`weighted_ridge` with ``alpha`` on the softmax probability of
    the target. Returns :class:`LimeResult` with the weights (N, S), the maps (N, H, W)
    (normalized unless ``normalize=False``) and the segments (N, H, W).
    """
    check_module("model", model)
    check_images("images", images)
    check_positive_int("samples", samples)
    check_positive_int("batch_size", batch_size)
    device = model_device(model)
    images = images.detach().to(device)
    segments = _check_segments(segments, images, cell)
    features = int(segments.max()) + 1
    masks = random_masks(len(images), samples, features, seed)
    with model_state_guard(model), torch.no_grad():
        if targets is None:
            targets = model(images).argmax(1)
        targets = _check_targets(targets, len(images), device)
        weights = torch.stack([
            _fit_one(model, image, int(target), segment, mask, baseline, kernel_width,
                     alpha, batch_size)
            for image, target, segment, mask in zip(images, targets, segments, masks)])
    maps = torch.stack([w[s] for w, s in zip(weights, segments.cpu())])
    return LimeResult(weights, normalize_maps(maps) if normalize else maps, segments.cpu())


def _fit_one(model, image, target, segments, masks, baseline, kernel_width, alpha, batch_size):
    """The surrogate's coefficients (S,) float32 for one image (C, H, W)."""
    probabilities = []
    for start in range(0, len(masks), batch_size):
        keep = masks[start:start + batch_size].to(image.device)[:, segments].unsqueeze(1)
        perturbed = torch.where(keep, image, torch.full_like(image, baseline))
        probabilities.append(model(perturbed).softmax(1)[:, target].cpu())
    coefficients, _ = weighted_ridge(masks.float(), torch.cat(probabilities),
                                     kernel_weights(masks, kernel_width), alpha)
    return coefficients.float()


def _check_segments(segments, images, cell):
    """Segment ids as a long tensor (N, H, W) on the images' device."""
    count, _, height, width = images.shape
    if segments is None:
        segments = grid_segments(height, width, cell)
    if not isinstance(segments, torch.Tensor) or segments.is_floating_point():
        raise TypeError("segments: expected an integer tensor (H, W) or (N, H, W) of ids.")
    if segments.shape not in ((height, width), (count, height, width)):
        raise ValueError(f"segments: expected shape ({height}, {width}) or ({count}, {height}, "
                         f"{width}), got {tuple(segments.shape)}.")
    if segments.min() < 0:
        raise ValueError("segments: expected ids >= 0.")
    return segments.long().expand(count, height, width).to(images.device)


def _check_targets(targets, count, device):
    """``targets`` as a long tensor (count,) on ``device``."""
    targets = torch.as_tensor(targets, device=device).long()
    if targets.shape != (count,):
        raise ValueError(f"targets: expected shape ({count},), got {tuple(targets.shape)}.")
    return targets
