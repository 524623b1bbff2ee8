"""How far to trust an attribution map: deletion/insertion faithfulness and run-to-run agreement.

- Deletion and insertion (Petsiuk et al. 2018, RISE): remove the pixels a map ranks
  highest first (set them to ``baseline``), or reveal them first on a ``baseline``
  image, and follow the model's softmax probability of the explained class. A faithful
  map makes the deletion curve fall fast (low area under the curve, AUC) and the
  insertion curve rise fast (high AUC). Both AUCs lie in [0, 1]; compare them with a
  random map's (:func:`random_maps`).
- Run-to-run variability: the same recipe trained with several seeds. The spread of
  accuracy and of the trust score (:func:`helpers.attribution.trustworthiness`), and
  the agreement of the maps of the same image across runs, the mean Spearman rank
  correlation over pairs of runs (:func:`rank_agreement`).

Maps are float tensors (N, H, W) at the images' resolution, as in
:mod:`helpers.attribution`.
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import nn

from helpers.attribution import trustworthiness
from helpers.checks import check_images, check_module, check_positive_int
from helpers.models import model_device, model_state_guard

MODES = ("deletion", "insertion")


# --- deletion and insertion ----------------------------------------------------------------

class Curves(NamedTuple):
    """What :func:`deletion_curves` returns."""
    fractions: torch.Tensor  # (steps + 1,) share of pixels deleted (inserted), 0 … 1
    scores: torch.Tensor     # (N, steps + 1) probability of the target class at each step
    auc: torch.Tensor        # (N,) area under each curve (trapezoid rule), in [0, 1]


def deletion_curves(model: nn.Module, images: torch.Tensor, maps: torch.Tensor,
                    targets: torch.Tensor | None = None, *, mode: str = "deletion",
                    steps: int = 16, baseline: float | torch.Tensor = 0.5,
                    batch_size: int = 256) -> Curves:
    """Deletion (or, ``mode="insertion"``, insertion) curves of ``maps`` (N, H, W) for
    ``images`` (N, C, H, W) in [0, 1] and ``targets`` (N,) (default: the predicted classes).

    Pixels are ranked by their map value, highest first (ties: in raster order). At step
    k = 0 … ``steps`` the first ``round(k · H·W / steps)`` of them (all channels) are set
    to ``baseline`` (deletion) or are the only ones not at ``baseline`` (insertion);
    ``baseline`` is a value (0 = black) or images like ``images`` (e.g. a blurred copy).
    Returns :class:`Curves`: the softmax probability of the target at every step and
    the area under each curve over the fraction of pixels, in [0, 1].
    """
    check_module("model", model)
    check_images("images", images)
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {', '.join(MODES)}.")
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    count, channels, height, width = images.shape
    if not isinstance(maps, torch.Tensor) or maps.shape != (count, height, width):
        raise ValueError(f"maps: expected a tensor ({count}, {height}, {width}), got "
                         f"{tuple(getattr(maps, 'shape', ()))}.")
    device = model_device(model)
    images = images.detach().to(device)
    baseline = _baseline_images(baseline, images)
    order = maps.detach().flatten(1).to(device).argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(
        1, order, torch.arange(height * width, device=device).expand(count, -1))
    ranks = ranks.view(count, 1, height, width)
    counts = [round(k * height * width / steps) for k in range(steps + 1)]
    with model_state_guard(model), torch.no_grad():
        if targets is None:
            targets = model(images).argmax(1)
        targets = torch.as_tensor(targets, device=device).long()
        if targets.shape != (count,):
            raise ValueError(f"targets: expected shape ({count},), got {tuple(targets.shape)}.")
        scores = torch.stack([_probabilities(model, images, baseline, ranks < number, mode,
                                             targets, batch_size)
                              for number in counts], dim=1)
    fractions = torch.tensor(counts, dtype=torch.float32) / (height * width)
    return Curves(fractions, scores, torch.trapezoid(scores, fractions, dim=1))


def _baseline_images(baseline, images):
    """``baseline`` (a number or images of the same shape) as a tensor shaped like ``images``."""
    if isinstance(baseline, torch.Tensor) and baseline.ndim > 0:
        if baseline.shape != images.shape:
            raise ValueError(f"baseline: expected a number or images {tuple(images.shape)}, "
                             f"got {tuple(baseline.shape)}.")
        return baseline.detach().to(images)
    if not isinstance(baseline, (int, float, torch.Tensor)) or isinstance(baseline, bool):
        raise TypeError(f"baseline: expected a number or a tensor, got {type(baseline).__name__}.")
    return torch.full_like(images, float(baseline))


def _probabilities(model, images, baseline, chosen, mode, targets, batch_size):
    """P(target) (N,) on CPU with the ``chosen`` pixels (N, 1, H, W) deleted or inserted."""
    changed = (torch.where(chosen, baseline, images) if mode == "deletion"
               else torch.where(chosen, images, baseline))
    pieces = []
    for start in range(0, len(images), batch_size):
        probabilities = model(changed[start:start + batch_size]).softmax(1)
        pieces.append(probabilities.gather(
            1, targets[start:start + batch_size].view(-1, 1)).squeeze(1).cpu())
    return torch.cat(pieces)


def random_maps(count: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Uniform random maps (count, H, W) in [0, 1): the baseline a map must beat."""
    for name, value in (("count", count), ("height", height), ("width", width)):
        check_positive_int(name, value)
    return torch.rand(count, height, width, generator=torch.Generator().manual_seed(seed))


def faithfulness_table(model: nn.Module, images: torch.Tensor, maps: dict[str, torch.Tensor],
                       targets: torch.Tensor | None = None, *, steps: int = 16,
                       baseline: float | torch.Tensor = 0.5) -> pd.DataFrame:
    """One row per method of ``maps`` ({name: (N, H, W)}, all for the same ``images`` and
    ``targets``): the mean ``deletion AUC`` (lower = more faithful), the mean
    ``insertion AUC`` (higher = more faithful) and their standard errors over the images
    (``deletion SE``, ``insertion SE``). Settings as in :func:`deletion_curves`."""
    if not maps:
        raise ValueError("maps is empty: pass {method name: maps (N, H, W)}.")
    rows = {}
    for name, method_maps in maps.items():
        row = {}
        for mode in MODES:
            auc = deletion_curves(model, images, method_maps, targets, mode=mode, steps=steps,
                                  baseline=baseline).auc
            row[f"{mode} AUC"] = auc.mean().item()
            row[f"{mode} SE"] = (auc.std() / len(auc) ** 0.5).item() if len(auc) > 1 else np.nan
        rows[name] = row
    columns = ["deletion AUC", "deletion SE", "insertion AUC", "insertion SE"]
    return pd.DataFrame(rows).T[columns]


# --- run-to-run variability -----------------------------------------------------------------

def rank_agreement(maps_by_run) -> np.ndarray:
    """Per image, the mean Spearman rank correlation between the maps that several runs
    give for it: ``maps_by_run`` a list of R ≥ 2 tensors (N, H, W) → (N,) in [−1, 1].

    Tied pixels share their mean rank (Grad-CAM's zeros, a grid method's cells). A pair
    in which one map is constant has no rank correlation and is left out; an image with
    no such pair at all gets NaN.
    """
    maps_by_run = list(maps_by_run)
    if len(maps_by_run) < 2:
        raise ValueError(f"maps_by_run: expected the maps of at least 2 runs, "
                         f"got {len(maps_by_run)}.")
    shape = maps_by_run[0].shape
    if len(shape) != 3 or any(maps.shape != shape for maps in maps_by_run):
        raise ValueError(f"maps_by_run: expected tensors of one shape (N, H, W), got "
                         f"{[tuple(maps.shape) for maps in maps_by_run]}.")
    ranks = [_standardized_ranks(maps) for maps in maps_by_run]
    pairs = np.stack([(a * b).mean(1) for a, b in combinations(ranks, 2)])
    return _nanmean(pairs)


def _standardized_ranks(maps: torch.Tensor) -> np.ndarray:
    """Average ranks of each map's pixels, centred and scaled to unit variance (N, H·W);
    rows of a constant map are NaN."""
    ranks = rankdata(maps.detach().flatten(1).cpu().double().numpy(), axis=1)
    centred = ranks - ranks.mean(1, keepdims=True)
    spread = centred.std(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread > 0, centred / spread, np.nan)


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN (without a warning) where a column is all NaN."""
    valid = ~np.isnan(values)
    total = np.where(valid, values, 0).sum(0)
    counts = valid.sum(0)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


class Variability(NamedTuple):
    """What :func:`run_variability` returns."""
    runs: pd.DataFrame        # one row per run: accuracy, trust
    agreement: np.ndarray     # (N,) per image, mean Spearman ρ of its maps across runs
    summary: pd.DataFrame     # rows accuracy, trust, map agreement; columns mean, std, min, max


def run_variability(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor,
                    masks: torch.Tensor, explain: Callable, *, fraction: float = 0.05,
                    min_overlap: float = 0.5) -> Variability:
    """The spread of one recipe over runs (``models``: {run name: trained model}, e.g. one
    per seed) on the same ``images`` (N, C, H, W), ``labels`` (N,) and annotated regions
    ``masks`` bool (N, H, W).

    ``explain(model, images, targets) -> maps (N, H, W)``, e.g. ``lambda m, x, t:
    attribution.grad_cam(m, x, layer_of(m), t)``, explains the true class, so that every
    run answers the same question (for the correct predictions, which the trust score
    counts, that is the predicted class). Trust: :func:`helpers.attribution.trustworthiness`
    with ``fraction`` and ``min_overlap``. The summary's ``std`` is the sample standard
    deviation over runs (for the agreement: over images).
    """
    if len(models) < 2:
        raise ValueError(f"models: expected at least 2 runs, got {len(models)}.")
    if not callable(explain):
        raise TypeError(f"explain={explain!r}: expected a function "
                        f"(model, images, targets) → maps.")
    check_images("images", images)
    labels = torch.as_tensor(labels).long().cpu()
    rows, maps_by_run = {}, []
    for name, model in models.items():
        check_module(f"models[{name!r}]", model)
        with model_state_guard(model), torch.no_grad():
            predicted = model(images.to(model_device(model))).argmax(1).cpu()
        maps = explain(model, images, labels).detach().cpu()
        correct = predicted == labels
        rows[name] = {"accuracy": correct.float().mean().item(),
                      "trust": trustworthiness(maps, masks, correct, fraction, min_overlap)}
        maps_by_run.append(maps)
    runs = pd.DataFrame(rows).T
    agreement = rank_agreement(maps_by_run)
    columns = {"accuracy": runs["accuracy"].to_numpy(), "trust": runs["trust"].to_numpy(),
               "map agreement (Spearman ρ)": agreement}
    summary = pd.DataFrame({name: _describe(values) for name, values in columns.items()}).T
    return Variability(runs, agreement, summary)


def _describe(values: np.ndarray) -> dict:
    """Mean, sample standard deviation, minimum and maximum of ``values``, ignoring NaN."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return {"mean": np.nan, "std": np.nan, "min": np.nan, "max": np.nan}
    return {"mean": values.mean(), "std": values.std(ddof=1) if len(values) > 1 else np.nan,
            "min": values.min(), "max": values.max()}
