"""Argument checks shared by the public functions of every module.

Each check raises ``ValueError`` (a wrong value) or ``TypeError`` (a wrong kind of
object) whose message names the argument, what was expected and what came, and returns
the checked value so that a call can sit inside an expression.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def check_positive_int(name: str, value) -> int:
    """``value`` as an int >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: expected a positive int.")
    return value


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r}: expected an int >= {minimum}.")
    return value


def check_fraction(name: str, value, *, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float in [0, 1]; ``low_open``/``high_open`` exclude 0 or 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name}={value!r}: expected a number in "
                         f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}.")
    if value < 0 or value > 1 or (low_open and value == 0) or (high_open and value == 1):
        raise ValueError(f"{name}={value!r}: expected a number in "
                         f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}.")
    return float(value)


def check_module(name: str, value) -> nn.Module:
    """``value`` if it is a ``torch.nn.Module``."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name}: expected a torch.nn.Module, got {type(value).__name__}.")
    return value


def check_images(name: str, value, *, channels: int | None = None) -> torch.Tensor:
    """``value`` if it is a non-empty float tensor (N, C, H, W) (with ``channels`` C)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor (N, C, H, W), got "
                        f"{type(value).__name__}.")
    if not value.is_floating_point() or value.ndim != 4 or len(value) == 0:
        raise ValueError(f"{name}: expected a non-empty float tensor (N, C, H, W) in [0, 1], "
                         f"got {value.dtype} {tuple(value.shape)}.")
    if channels is not None and value.shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channel(s), got shape "
                         f"{tuple(value.shape)}.")
    return value


def check_pixels(name: str, value) -> torch.Tensor:
    """``value`` if it is a non-empty float tensor (N, ...) of finite values in [0, 1]."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}.")
    if not value.is_floating_point() or value.ndim < 2 or len(value) == 0:
        raise ValueError(f"{name}: expected a non-empty float tensor (N, C, H, W), got "
                         f"{value.dtype} {tuple(value.shape)}.")
    if not torch.isfinite(value).all() or value.min() < 0 or value.max() > 1:
        raise ValueError(f"{name}: expected pixel values in [0, 1], got "
                         f"[{value.min().item():.4g}, {value.max().item():.4g}] "
                         f"(normalization belongs inside the model).")
    return value


def check_labels(name: str, value, count: int) -> torch.Tensor:
    """``value`` if it is an integer tensor of class indices with shape (count,)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}.")
    if value.shape != (count,):
        raise ValueError(f"{name}: expected shape ({count},) to match the images, got "
                         f"{tuple(value.shape)}.")
    if value.is_floating_point() or value.is_complex():
        raise ValueError(f"{name}: expected integer class indices, got {value.dtype}.")
    return value
