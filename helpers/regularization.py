"""Regularization and sparsity: weight penalties, an activation penalty, average density.

The regularized loss is ``Σᵢ V(f(xᵢ), yᵢ) + λ·R(f)``. :func:`weight_penalty` gives
``λ·R`` for R = L1 (‖w‖₁), L2 (‖w‖₂²) or the elastic net (α‖w‖₁ + (1 − α)‖w‖₂²) over
every convolution and linear *kernel* (biases and BatchNorm parameters are not
penalized). :class:`ActivationPenalty` gives ``λ·Σⱼ|aⱼ|`` over the units of chosen
layers, read by forward hooks that are removed when its ``with`` block ends. Both plug
into :func:`helpers.train.fit` through its ``penalty`` argument.
:func:`average_density` measures the fraction of units active per stimulus.
"""

from __future__ import annotations

from contextlib import ExitStack

import torch
from torch import nn
from torch.utils.data import Dataset

from helpers import models
from helpers.checks import check_fraction, check_module

PENALTIES = ("none", "l1", "l2", "elastic_net")


def kernels(model: nn.Module) -> list[torch.Tensor]:
    """The weight tensors of every ``nn.Conv*`` and ``nn.Linear`` module of ``model``."""
    check_module("model", model)
    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
    return [module.weight for module in model.modules() if isinstance(module, kinds)]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """``‖w‖₁``: the sum of absolute values of all conv and linear kernels (a scalar)."""
    return sum(weight.abs().sum() for weight in kernels(model))


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """``‖w‖₂²``: the sum of squares of all conv and linear kernels (a scalar)."""
    return sum(weight.pow(2).sum() for weight in kernels(model))


def elastic_net_penalty(model: nn.Module, alpha: float = 0.5) -> torch.Tensor:
    """``α‖w‖₁ + (1 − α)‖w‖₂²`` over all conv and linear kernels; ``alpha`` in [0, 1]."""
    check_fraction("alpha", alpha)
    return alpha * l1_penalty(model) + (1 - alpha) * l2_penalty(model)


def weight_penalty(kind: str, lam: float, alpha: float = 0.5):
    """A function ``model → λ·R(model)`` for ``kind`` in :data:`PENALTIES` (``fit``'s ``penalty``).

    ``"none"`` returns ``None`` (no penalty), so every model of a comparison is trained
    by the same call. ``lam`` >= 0; ``alpha`` in [0, 1] mixes L1 and L2 for the elastic net.
    """
    if kind not in PENALTIES:
        raise ValueError(f"kind={kind!r}: expected one of {', '.join(PENALTIES)}.")
    if not isinstance(lam, (int, float)) or lam < 0:
        raise ValueError(f"lam={lam!r}: expected a number >= 0.")
    check_fraction("alpha", alpha)
    if kind == "none":
        return None
    if kind == "l1":
        return lambda model: lam * l1_penalty(model)
    if kind == "l2":
        return lambda model: lam * l2_penalty(model)
    return lambda model: lam * elastic_net_penalty(model, alpha)


class ActivationPenalty:
    """``λ · mean over the batch of Σⱼ |aⱼ|`` over the outputs of ``layers``.

    Use as a context manager around training: it registers one forward hook per layer
    on entry and removes them on exit (also on error)::

        with ActivationPenalty(model, [model.features[2]], lam=1e-5) as penalty:
            fit(model, data, epochs=3, penalty=penalty)

    Calling it (``penalty(model)``) returns the penalty of the latest forward pass and
    forgets those activations. The sum runs over every unit of a sample (channels ×
    positions), as in the spec's ``λ Σⱼ |aⱼ|``; the mean over samples keeps λ
    independent of the batch size.
    """

    def __init__(self, model: nn.Module, layers: list[nn.Module], lam: float):
        _check_layers(model, layers)
        if not isinstance(lam, (int, float)) or lam < 0:
            raise ValueError(f"lam={lam!r}: expected a number >= 0.")
        self.model, self.layers, self.lam = model, list(layers), float(lam)
        self._hooks: ExitStack | None = None
        self._outputs: list[torch.Tensor] = []

    def __enter__(self) -> "ActivationPenalty":
        # one stack for all the hooks: if registering one fails, the others go too
        with ExitStack() as hooks:
            for layer in self.layers:
                hooks.enter_context(models.forward_hook(layer, self._keep))
            self._hooks = hooks.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove the hooks and forget captured activations (safe to call twice)."""
        if self._hooks is not None:
            self._hooks.close()
        self._hooks, self._outputs = None, []

    def _keep(self, module, inputs, output) -> None:
        self._outputs.append(output)  # not detached: the penalty's gradient flows through

    def __call__(self, model: nn.Module | None = None) -> torch.Tensor:
        if self._hooks is None:
            raise RuntimeError("ActivationPenalty: use it inside its `with` block (no hooks).")
        if not self._outputs:
            raise RuntimeError("ActivationPenalty: no activations captured; run a forward pass.")
        total = sum(output.abs().flatten(1).sum(1).mean() for output in self._outputs)
        self._outputs = []
        return self.lam * total


def density(activations: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Fraction of active units per stimulus: (N, ...) activations → (N,) in [0, 1].

    A unit is active when its activation exceeds ``threshold`` (0 for ReLU units).
    """
    if not isinstance(activations, torch.Tensor) or activations.ndim < 2:
        raise ValueError("activations: expected a tensor (N, units...) with N stimuli.")
    return (activations.flatten(1) > threshold).float().mean(1)


def average_density(model: nn.Module, data: torch.Tensor | Dataset, layers: list[nn.Module],
                    threshold: float = 0.0, batch_size: int = 256) -> float:
    """Average activity ratio: the mean over stimuli of the fraction of active units.

    All units of all ``layers`` (their outputs) count as one code per stimulus.
    ``data``: images (N, C, H, W) in [0, 1] or a dataset of (image, label). A sparse code
    has a density in [0, 0.5]. Runs :func:`helpers.models.logits` with one counting hook
    per layer, removed afterwards (also on error); the model's state is restored.
    """
    _check_layers(model, layers)
    # every stimulus has the same units, so the mean of the per-stimulus fractions is
    # (all active units) / (stimuli × units): counts suffice, no activations are kept
    active, units = [0] * len(layers), [0] * len(layers)

    def counter(index: int):
        def count(module, inputs, output) -> None:
            active[index] += (output.flatten(1) > threshold).sum().item()
            units[index] = output[0].numel()
        return count

    with ExitStack() as hooks:
        for index, layer in enumerate(layers):
            hooks.enter_context(models.forward_hook(layer, counter(index)))
        stimuli = len(models.logits(model, data, batch_size))
    return sum(active) / (stimuli * sum(units))


def kernel_weights(model: nn.Module) -> torch.Tensor:
    """Every conv and linear kernel weight of ``model``, flattened and detached: (P,) on CPU."""
    return torch.cat([weight.detach().flatten().cpu() for weight in kernels(model)])


def sparsity_of_weights(model: nn.Module, tolerance: float = 1e-3) -> float:
    """Fraction of kernel weights whose magnitude is below ``tolerance`` (near zero)."""
    return (kernel_weights(model).abs() < tolerance).float().mean().item()


def _check_layers(model, layers) -> None:
    check_module("model", model)
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers: expected a non-empty list of modules of the model.")
    members = set(map(id, model.modules()))
    for layer in layers:
        if not isinstance(layer, nn.Module) or id(layer) not in members:
            raise ValueError(f"layers: {layer!r} is not a module of the model.")
