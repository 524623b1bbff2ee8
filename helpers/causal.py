"""Causal attribution: do-interventions on latent units and their effect on the output.

A *unit* is one channel of a layer's output, (N, C, H, W) → channel ``unit``. An
intervention do(X_unit = x') replaces that channel inside the forward pass with a forward
hook (``"zero"``: x' = 0, the Z₀ intervention; ``"value"``: a constant; ``"mean"``: the
channel's mean over the evidence images and positions). Hooks go through
:func:`helpers.models.forward_hook` and :func:`helpers.models.capture`, which remove them
also on error; every forward pass goes through the one batched loop
:func:`helpers.models.logits`.

The causal effect of an intervention on image n, for class c_n (the class the model
predicts for the untouched image unless ``classes`` are given), is

    Effect_n = P(c_n | do(X_unit = x'), z_n) − P(c_n | z_n),

a difference of softmax probabilities in [−1, 1]. The expected causal effect weighs the
effect by how likely each observed state of the unit is under the evidence Z:

    E[Effect] = Σ_b P(X_unit ∈ bin b | Z) · Effect(b),

where the bins partition the unit's observed activation (its spatial mean) over the
images of Z and Effect(b) is the mean effect over the images in bin b.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from helpers import attribution
from helpers.checks import (check_fraction, check_images, check_int, check_labels,
                            check_positive_int)
from helpers.models import Classifier, capture, forward_hook, get_layer, logits

INTERVENTIONS = ("zero", "value", "mean")


def shallow_cnn(width: int = 16, num_classes: int = 10) -> Classifier:
    """The chapter's 2-conv net for (N, 1, 28, 28) images in [0, 1] → logits (N, num_classes).

    ``conv1`` (5×5, ``width`` channels) → ReLU → 2×2 max-pool → ``conv2`` (3×3,
    2·``width`` channels) → ReLU → global average pooling → ``fc``. The layers one
    intervenes on are ``features.relu1`` (width channels, 28×28) and ``features.relu2``
    (2·width channels, 14×14). Global average pooling before the linear head is what
    makes CAM exact for this net: logit_c = Σ_k w_ck · mean(A_k).
    """
    check_positive_int("width", width)
    features = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, width, 5, padding=2), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2),
        conv2=nn.Conv2d(width, 2 * width, 3, padding=1), relu2=nn.ReLU(),
        gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten()))
    return Classifier(features, 2 * width, num_classes, mean=(0.5,), std=(0.5,))


# --- interventions ---------------------------------------------------------------------------

@contextmanager
def intervene(model: nn.Module, layer, unit: int, kind: str = "zero", value: float | None = None):
    """Within the block, ``model``'s ``layer`` outputs channel ``unit`` set by ``kind``.

    ``layer``: a submodule or its dotted name (e.g. ``"features.relu2"``) whose output is
    (N, C, H, W) or (N, C); ``kind``: ``"zero"``, or ``"value"``/``"mean"`` with the
    number in ``value`` (for ``"mean"`` the unit's mean, see :func:`unit_mean`). The
    hook is removed when the block ends, also when it raises.
    """
    module = get_layer(model, layer)
    if kind not in INTERVENTIONS:
        raise ValueError(f"kind={kind!r}: expected one of {', '.join(INTERVENTIONS)}.")
    if kind != "zero" and not isinstance(value, (int, float)):
        raise ValueError(f"value: kind={kind!r} needs the number to set the unit to.")
    fill = 0.0 if kind == "zero" else float(value)
    check_int("unit", unit, 0)

    def hook(_module, _inputs, output):
        """The replacement output: a copy (the layer's own tensor stays untouched)."""
        if unit >= output.shape[1]:
            raise ValueError(f"unit={unit}: the layer has {output.shape[1]} channels.")
        output = output.clone()
        output[:, unit] = fill
        return output

    with forward_hook(module, hook):
        yield model


def probabilities(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Softmax outputs (N, K) of ``model`` on ``images`` (N, C, H, W), eval mode, no grad."""
    return F.softmax(logits(model, check_images("images", images), batch_size), 1)


def activations(model: nn.Module, images: torch.Tensor, layer,
                batch_size: int = 256) -> torch.Tensor:
    """The output of ``layer`` (N, C, ...) for ``images``, on CPU; hook removed afterwards."""
    module, images = get_layer(model, layer), check_images("images", images)
    with capture(module, to_cpu=True) as captured:
        logits(model, images, batch_size)
    return torch.cat(captured)


def unit_mean(model: nn.Module, images: torch.Tensor, layer, unit: int) -> float:
    """The mean of channel ``unit`` of ``layer`` over ``images`` and positions."""
    return activations(model, images, layer)[:, unit].mean().item()


def causal_effect(model: nn.Module, images: torch.Tensor, layer, unit: int, kind: str = "zero",
                  value: float | None = None, classes: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image effect (N,) of do(unit = x') on P(class): P(c | do, z) − P(c | z), in [−1, 1].

    ``classes`` (N,) int: the class c per image; default the model's prediction on the
    untouched image. For ``kind="mean"`` without ``value`` the unit's mean over
    ``images`` is used. Model state restored and the hook removed afterwards.
    """
    if kind == "mean" and value is None:
        value = unit_mean(model, images, layer, unit)
    before = probabilities(model, images)
    if classes is None:
        classes = before.argmax(1)
    else:
        check_labels("classes", classes, len(images))
    with intervene(model, layer, unit, kind, value):
        after = probabilities(model, images)
    rows = torch.arange(len(images))
    return after[rows, classes.long()] - before[rows, classes.long()]


def expected_causal_effect(model: nn.Module, images: torch.Tensor, layer, unit: int,
                           kind: str = "zero", value: float | None = None,
                           classes: torch.Tensor | None = None, bins: int = 5) -> dict:
    """E[Effect] = Σ_b P(X_unit ∈ b | Z) · Effect(b) over ``bins`` equal-width bins.

    Z is the set of ``images``; the unit's observed state is its spatial-mean activation.
    Returns ``{"expected": float, "weights": (B,), "bin_effects": (B,), "edges": (B+1,),
    "effects": (N,) per image}``; the weights are fractions of images and sum to 1
    (an empty bin has weight 0 and effect 0).
    """
    check_positive_int("bins", bins)
    observed = activations(model, images, layer)[:, unit].flatten(1).mean(1).numpy()
    effects = causal_effect(model, images, layer, unit, kind, value, classes).numpy()
    return bin_and_weigh(observed, effects, bins)


def bin_and_weigh(observed: np.ndarray, effects: np.ndarray, bins: int) -> dict:
    """E[Effect] = Σ_b P(X ∈ b | Z) · Effect(b) from per-image numbers.

    ``observed`` (N,): the unit's observed state per image; ``effects`` (N,): the effect
    of the intervention per image. The edges cut [min, max] of ``observed`` into
    ``bins`` equal-width bins (one bin when the unit is constant); image n falls in
    bin ``searchsorted(edges, observed[n], side="right") − 1``, clipped so that the
    maximum lands in the last bin. P(X ∈ b | Z) is the fraction of images in b, Effect(b)
    their mean effect (0 for an empty bin). Returns the dict of
    :func:`expected_causal_effect`: ``{"expected", "weights", "bin_effects", "edges",
    "effects"}``.
    """
    check_positive_int("bins", bins)
    observed, effects = np.asarray(observed, float), np.asarray(effects, float)
    if observed.shape != effects.shape or observed.ndim != 1 or len(observed) == 0:
        raise ValueError(f"observed, effects: expected two non-empty arrays (N,), got "
                         f"{observed.shape} and {effects.shape}.")
    if observed.max() > observed.min():
        edges = np.linspace(observed.min(), observed.max(), bins + 1)
    else:                                    # a constant unit (e.g. always 0): one bin
        edges = np.array([observed.min(), observed.max()])
    index = np.clip(np.searchsorted(edges, observed, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(index, minlength=len(edges) - 1)
    sums = np.bincount(index, weights=effects, minlength=len(edges) - 1)
    weights = counts / counts.sum()
    bin_effects = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return {"expected": float((weights * bin_effects).sum()), "weights": weights,
            "bin_effects": bin_effects, "edges": edges, "effects": effects}


def _intervention_pass(model: nn.Module, images: torch.Tensor, layer, units=None, fills=None,
                       batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Many single-unit interventions on ``layer`` in one forward pass per batch.

    Returns ``(observed, probabilities)``: the untouched layer's spatial-mean activation
    (N, C), and softmax outputs (N, 1 + U, K) whose column 0 is untouched (as
    :func:`probabilities`) and column 1 + j has channel ``units[j]`` set to ``fills[j]``
    (as under :func:`intervene`). ``units``: channels (default every channel); ``fills``:
    one number per unit (default 0, the Z₀ intervention). A hook fans the layer's
    output (n, C, ...) out to the 1 + U versions of each image, so the layers before
    ``layer`` run once per image instead of 1 + U times; the layers after it must treat
    the images of a batch independently, as they do in eval mode (which the pass uses).
    About ``batch_size`` versions go through the layers after ``layer`` at a time.
    """
    module, images = get_layer(model, layer), check_images("images", images)
    if units is None:
        units = range(activations(model, images[:1], layer).shape[1])
    units = [check_int("unit", unit, 0) for unit in units]
    fills = [0.0] * len(units) if fills is None else [float(value) for value in fills]
    if not units or len(fills) != len(units):
        raise ValueError(f"units, fills: expected one fill per unit and at least one unit, "
                         f"got {len(units)} units and {len(fills)} fills.")
    versions = 1 + len(units)
    observed = []

    def fan_out(_module, _inputs, output):
        """(n, C, ...) → (n · versions, C, ...): per image, untouched then one per unit."""
        if max(units) >= output.shape[1]:
            raise ValueError(f"units={units}: the layer has {output.shape[1]} channels.")
        observed.append(output.detach().reshape(*output.shape[:2], -1).mean(2).cpu())
        copies = output.unsqueeze(1).repeat(1, versions, *[1] * (output.ndim - 1))
        values = torch.tensor(fills, dtype=output.dtype, device=output.device)
        copies[:, torch.arange(1, versions), units] = values.view(-1, *[1] * (output.ndim - 2))
        return copies.flatten(0, 1)

    with forward_hook(module, fan_out):
        outputs = logits(model, images, max(1, batch_size // versions))
    return torch.cat(observed), F.softmax(outputs, 1).view(len(images), versions, -1)


def _effects(outputs: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
    """P(c | do_j, z) − P(c | z) per image and intervention, (N, U), from the (N, 1 + U, K)
    outputs of :func:`_intervention_pass`; c: ``classes`` (N,), default the untouched
    prediction."""
    before = outputs[:, 0]
    classes = before.argmax(1) if classes is None else classes.long()
    rows = torch.arange(len(outputs))
    return outputs[rows, 1:, classes] - before[rows, classes].unsqueeze(1)


def unit_effects(model: nn.Module, images: torch.Tensor, layer,
                 classes: torch.Tensor | None = None) -> torch.Tensor:
    """Zero-out effect of every channel of ``layer`` per image: (N, C) in [−1, 1].

    Column k equals ``causal_effect(model, images, layer, k)`` (to float rounding); all
    channels come from one forward pass per batch (:func:`_intervention_pass`).
    """
    if classes is not None:
        check_labels("classes", classes, len(check_images("images", images)))
    return _effects(_intervention_pass(model, images, layer)[1], classes)


# --- interventions on the input: pixel-wise masking ------------------------------------------

def pixel_mask(images: torch.Tensor, fraction: float = 0.1, seed: int = 0) -> torch.Tensor:
    """``images`` with a random ``fraction`` of each image's pixels set to 0 (PWM).

    The same pixel positions in every channel; deterministic from ``seed``.
    """
    images = check_images("images", images).detach()
    check_fraction("fraction", fraction)
    n, _, h, w = images.shape
    scores = torch.rand((n, 1, h, w), generator=torch.Generator().manual_seed(seed))
    cut = torch.quantile(scores.flatten(1), fraction, dim=1).view(n, 1, 1, 1)
    return torch.where(scores < cut, torch.zeros_like(images), images)


# --- maps: CAM (correlational) and the causal effect map -------------------------------------

def class_activation_map(model: Classifier, images: torch.Tensor, classes: torch.Tensor,
                         layer="features.relu2") -> torch.Tensor:
    """CAM (Zhou et al. 2016): Σ_k w_ck · A_k, upsampled to the image size, (N, H, W) on CPU.

    :func:`helpers.attribution.cam` with the layer given by name and the raw, signed maps
    (not normalized), on the same scale as :func:`causal_effect_map`. Exact for a net
    whose ``layer`` is followed only by global average pooling and the linear head
    ``model.fc`` (as :func:`shallow_cnn`).
    """
    return attribution.cam(model, images, get_layer(model, layer), targets=classes,
                           normalize=False).cpu()


def causal_effect_map(model: nn.Module, images: torch.Tensor, classes: torch.Tensor,
                      layer="features.relu2") -> torch.Tensor:
    """CEM: Σ_k (−Effect_k) · A_k, upsampled to the image size, (N, H, W).

    Effect_k is the zero-out effect of channel k on P(class) for each image, so each
    channel counts by how much the class probability *drops* without it, measured by
    intervention rather than read off the weights.
    """
    maps = activations(model, images, layer)
    importance = -unit_effects(model, images, layer, classes)         # (N, K)
    return attribution.upsample(torch.einsum("nk,nkhw->nhw", importance, maps),
                                images.shape[-2:])


# --- a detector of adversarial inputs from causal-effect statistics ---------------------------

def effect_statistic(effects: torch.Tensor) -> np.ndarray:
    """Per image: the mean |zero-out effect| over units, (N,) ≥ 0, from (N, K) effects."""
    return effects.abs().mean(1).numpy()


def detection_roc(clean_statistic: np.ndarray, adversarial_statistic: np.ndarray) -> dict:
    """ROC of flagging an input as adversarial when its statistic is *small*.

    Fixed direction, from the hypothesis that adversarial inputs weaken the causal
    effects of latent units; nothing is fitted. Returns ``{"auroc", "fpr", "tpr"}``.
    """
    if len(clean_statistic) == 0 or len(adversarial_statistic) == 0:
        raise ValueError("clean_statistic, adversarial_statistic: both need values.")
    scores = -np.concatenate([clean_statistic, adversarial_statistic])
    truth = np.r_[np.zeros(len(clean_statistic)), np.ones(len(adversarial_statistic))]
    fpr, tpr, _ = roc_curve(truth, scores)
    return {"auroc": float(roc_auc_score(truth, scores)), "fpr": fpr, "tpr": tpr}


def effect_detector(clean_effects: torch.Tensor, adversarial_effects: torch.Tensor,
                    folds: int = 5, seed: int = 0) -> dict:
    """Logistic regression on the per-unit effect vectors (N, K), scored out of fold.

    Each image is scored by a model fitted on the other folds, so the ROC
    (``{"auroc", "fpr", "tpr"}``) measures how well the effect profile generalizes.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = torch.cat([clean_effects, adversarial_effects]).numpy()
    truth = np.r_[np.zeros(len(clean_effects)), np.ones(len(adversarial_effects))]
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
                               features, truth, cv=splitter, method="predict_proba")[:, 1]
    fpr, tpr, _ = roc_curve(truth, scores)
    return {"auroc": float(roc_auc_score(truth, scores)), "fpr": fpr, "tpr": tpr}


def effect_table(model: nn.Module, conditions: dict[str, torch.Tensor], units, kind: str = "zero",
                 bins: int = 5):
    """Expected causal effect per (layer, unit) (rows) under each evidence set (columns).

    ``conditions``: {name: images (N, C, H, W)}, e.g. clean ("Z₀"), masked, adversarial;
    ``units``: [(layer name, channel)]; ``kind``: ``"zero"`` or ``"mean"``. Each cell
    equals :func:`expected_causal_effect` (to float rounding); the units of one layer
    share one forward pass per batch (:func:`_intervention_pass`). Returns a pandas
    DataFrame of floats.
    """
    import pandas as pd

    if not conditions or not units:
        raise ValueError("conditions, units: both need at least one entry.")
    if kind not in ("zero", "mean"):
        raise ValueError(f"kind={kind!r}: expected 'zero' or 'mean' (a table has no value "
                         f"to set).")
    check_positive_int("bins", bins)
    by_layer: dict = {}
    for layer, unit in units:
        by_layer.setdefault(layer, []).append(unit)
    rows = {(layer, unit): {} for layer, unit in units}
    for name, images in conditions.items():
        for layer, chosen in by_layer.items():
            fills = None
            if kind == "mean":                    # as unit_mean: over images and positions
                channels = activations(model, images, layer)
                fills = [channels[:, unit].mean().item() for unit in chosen]
            observed, outputs = _intervention_pass(model, images, layer, chosen, fills)
            effects = _effects(outputs)
            for column, unit in enumerate(chosen):
                rows[layer, unit][name] = bin_and_weigh(
                    observed[:, unit].numpy(), effects[:, column].numpy(), bins)["expected"]
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["layer", "unit"]
    return table
