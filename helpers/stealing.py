"""Chapter 8 (model stealing): a prediction API with a query budget, its defences, and
extraction of a surrogate ("knockoff") model from the API's answers.

The **API** (:class:`QueryAPI`) wraps one classifier or an ensemble of them. It counts
one query per image, refuses a batch that would exceed its budget (answering nothing of
it), and answers with labels, the top-k probabilities or all probabilities, after an
optional **defence** on the probability vectors (N, K):

- :func:`round_scores` rounds to ``d`` decimals (as ART's ``Rounded`` post-processor);
- :func:`top1_only` keeps only the top class (a one-hot vector: the label, no score);
- :func:`reverse_sigmoid` is Lee et al. (2019)'s deceptive perturbation, numerically
  equal to ART's ``ReverseSigmoid`` post-processor.

**Extraction**: the thief sends queries (:func:`uniform_noise`, images of another
dataset brought to the victim's shape by :func:`match_shape`, or images of the task
itself), and trains a surrogate on the (query, answer) pairs with
:func:`helpers.train.fit` and :func:`soft_label_step` (soft cross-entropy on
probability answers, plain cross-entropy on labels). :func:`agreement` is the share of
inputs on which two classifiers give the same label.

Images are float (N, C, H, W) in [0, 1]; probabilities are float (N, K), rows summing
to 1 (except after :func:`round_scores`, which does not renormalize).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from helpers import train
from helpers.checks import check_images, check_int, check_module, check_positive_int
from helpers.models import logits as model_logits

ANSWERS = ("label", "top-k", "probabilities")
QUERY_SETS = ("noise", "natural", "task")


class BudgetExceeded(RuntimeError):
    """The API's query budget would be exceeded by a batch; nothing of it was answered."""


# --- defences: probabilities (N, K) → answer scores (N, K) -------------------------------

def _check_probabilities(probabilities) -> torch.Tensor:
    if not isinstance(probabilities, torch.Tensor) or probabilities.ndim != 2:
        raise ValueError(f"probabilities: expected a tensor (N, K), got "
                         f"{getattr(probabilities, 'shape', type(probabilities).__name__)}.")
    if probabilities.min() < 0 or probabilities.max() > 1:
        raise ValueError("probabilities: expected values in [0, 1].")
    return probabilities


def round_scores(probabilities: torch.Tensor, decimals: int) -> torch.Tensor:
    """Every probability rounded to ``decimals`` decimals (half to even, as ``np.around``
    and ART's ``Rounded``); rows are not renormalized. Ties created by the rounding can
    change the top-1 label (argmax takes the first of tied classes)."""
    _check_probabilities(probabilities)
    check_int("decimals", decimals, 0)
    return torch.round(probabilities, decimals=decimals)


def top1_only(probabilities: torch.Tensor) -> torch.Tensor:
    """A one-hot vector (N, K) at each row's top class: the label without its score."""
    _check_probabilities(probabilities)
    return F.one_hot(probabilities.argmax(1), probabilities.shape[1]).to(probabilities.dtype)


def reverse_sigmoid(probabilities: torch.Tensor, beta: float = 1.0,
                    gamma: float = 0.1) -> torch.Tensor:
    """Lee et al. (2019)'s reverse-sigmoid perturbation of probabilities (N, K), K >= 2.

    With ``p`` clipped to [1e-9, 1 - 1e-9] and ``σ⁻¹(p) = log(p / (1 - p))``::

        r = β · (σ(γ · σ⁻¹(p)) − ½),   q = clip(p − r, 0, 1),   answer = q / Σ_k q_k

    (the same arithmetic as ART's ``ReverseSigmoid``, in float64). For ``γ < 1`` the map
    ``p ↦ p − r`` is not monotone near 0 and 1: the least likely classes get the most
    mass back, which garbles what the thief learns from the small scores. The top-1
    class is kept whenever no small score overtakes the largest; :func:`keeps_top1`
    checks that for given ``β``, ``γ`` and ``K``. β > 0, γ > 0.
    """
    _check_probabilities(probabilities)
    if probabilities.shape[1] < 2:
        raise ValueError("probabilities: expected K >= 2 classes.")
    for name, value in (("beta", beta), ("gamma", gamma)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name}={value!r}: expected a positive number.")
    p = probabilities.double()
    clipped = p.clamp(1e-9, 1 - 1e-9)
    perturbation = beta * (torch.sigmoid(gamma * torch.log(clipped / (1 - clipped))) - 0.5)
    perturbed = (p - perturbation).clamp(0, 1)
    return (perturbed / perturbed.sum(1, keepdim=True)).to(probabilities.dtype)


def keeps_top1(beta: float, gamma: float, num_classes: int, grid: int = 2000) -> bool:
    """Whether :func:`reverse_sigmoid` (β, γ) keeps the top-1 class of every probability
    vector with ``num_classes`` classes, checked on a grid.

    It suffices that no pair (top score ``m``, other score ``s``) with ``s <= m``,
    ``s + m <= 1`` and ``m >= (1 - s) / (K - 1)`` (the top of K scores summing to 1) is
    reversed by the perturbation: normalization by a positive constant keeps order.
    Scores are taken on a log grid from 1e-9 to 1.
    """
    check_int("num_classes", num_classes, 2)
    values = torch.cat([torch.logspace(-9, 0, grid, dtype=torch.float64),
                        torch.linspace(0, 1, grid, dtype=torch.float64)]).unique()
    clipped = values.clamp(1e-9, 1 - 1e-9)
    moved = (values - beta * (torch.sigmoid(gamma * torch.log(clipped / (1 - clipped)))
                              - 0.5)).clamp(0, 1)
    top, other = values.view(-1, 1), values.view(1, -1)
    possible = (other <= top) & (other + top <= 1) & (top >= (1 - other) / (num_classes - 1))
    return bool((moved.view(-1, 1) >= moved.view(1, -1))[possible].all())


# --- the API ----------------------------------------------------------------------------

class QueryAPI:
    """A prediction API around ``victim`` (a classifier or a list of them: an ensemble).

    - ``answer``: ``"label"`` → int64 (N,); ``"top-k"`` → float (N, K) with all but the
      ``k`` largest scores set to 0; ``"probabilities"`` → float (N, K).
    - ``defence``: a function probabilities (N, K) → scores (N, K) applied before the
      answer is formed (e.g. ``lambda p: reverse_sigmoid(p, 0.5, 0.2)``, :func:`top1_only`,
      ``functools.partial(round_scores, decimals=2)``); labels are the argmax of the
      defended scores. An ensemble answers with its members' mean probabilities.
    - ``budget``: the number of images the API answers in total (None = no limit).
      :meth:`query` counts one query per image; a batch that does not fit in the
      remaining budget raises :class:`BudgetExceeded` and nothing of it is answered
      or counted.
    """

    def __init__(self, victim: nn.Module | Sequence[nn.Module], *, answer: str = "probabilities",
                 k: int = 3, defence: Callable | None = None, budget: int | None = None,
                 batch_size: int = 256):
        members = list(victim) if isinstance(victim, (list, tuple)) else [victim]
        if not members:
            raise ValueError("victim: expected a model or a non-empty list of models.")
        self.members = [check_module("victim", member) for member in members]
        if answer not in ANSWERS:
            raise ValueError(f"answer={answer!r}: expected one of {', '.join(ANSWERS)}.")
        if defence is not None and not callable(defence):
            raise TypeError(f"defence={defence!r}: expected a function probabilities → scores.")
        self.answer, self.k, self.defence = answer, check_positive_int("k", k), defence
        self.budget = None if budget is None else check_int("budget", budget, 0)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.used = 0

    @property
    def remaining(self) -> int | float:
        """Queries left (``math.inf`` without a budget)."""
        return math.inf if self.budget is None else self.budget - self.used

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """The defended scores (N, K) of ``images``, NOT counted: the operator's own view
        (to measure the API's accuracy), never the thief's."""
        check_images("images", images)
        probabilities = torch.stack([
            torch.softmax(model_logits(member, images, self.batch_size), dim=1)
            for member in self.members]).mean(0)
        return probabilities if self.defence is None else self.defence(probabilities)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Answer a batch of images (N, C, H, W) in [0, 1]; counts N queries."""
        check_images("images", images)
        if len(images) > self.remaining:
            raise BudgetExceeded(
                f"query budget of {self.budget} exceeded: this batch has {len(images)} "
                f"images but only {self.remaining} queries remain ({self.used} used); "
                f"nothing of the batch was answered.")
        scores = self.scores(images)
        self.used += len(images)
        if self.answer == "label":
            return scores.argmax(1)
        if self.answer == "top-k":
            top = scores.topk(min(self.k, scores.shape[1]), dim=1)
            return torch.zeros_like(scores).scatter(1, top.indices, top.values)
        return scores


# --- query sets ---------------------------------------------------------------------------

def uniform_noise(count: int, shape: Sequence[int], seed: int = 0) -> torch.Tensor:
    """``count`` images of i.i.d. uniform pixels in [0, 1]: float (count, *shape)."""
    check_positive_int("count", count)
    return torch.rand((count, *shape), generator=torch.Generator().manual_seed(seed))


def match_shape(images: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """``images`` (N, C, H, W) in [0, 1] brought to ``shape`` = (C', H', W'): zero-padded
    around the centre when smaller (28×28 → 32×32, as MNIST's 28×28 digits sit in 32×32
    frames), bilinearly resized when larger; one channel repeated to C' or C channels
    averaged to one."""
    check_images("images", images)
    channels, height, width = shape
    if images.shape[1] != channels:
        if images.shape[1] == 1:
            images = images.repeat(1, channels, 1, 1)
        elif channels == 1:
            images = images.mean(1, keepdim=True)
        else:
            raise ValueError(f"images: cannot map {images.shape[1]} channels to {channels}.")
    dh, dw = height - images.shape[2], width - images.shape[3]
    if dh >= 0 and dw >= 0:
        return F.pad(images, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
    return F.interpolate(images, size=(height, width), mode="bilinear",
                         align_corners=False).clamp(0, 1)


def strokes_on_black(images: torch.Tensor) -> torch.Tensor:
    """Grayscale images (N, 1, H, W) in [0, 1] with the foreground bright on a black
    background, whatever the colours of ``images`` (N, C, H, W): the distance of each
    pixel's gray level from the image's border median, stretched to [0, 1] per image.
    Brings e.g. coloured printed letters to the look of white-on-black digits."""
    check_images("images", images)
    gray = images.mean(1, keepdim=True)
    border = torch.cat([gray[:, :, [0, -1], :].flatten(1), gray[:, :, :, [0, -1]].flatten(1)], 1)
    distance = (gray - border.median(1).values.view(-1, 1, 1, 1)).abs()
    low = distance.flatten(1).min(1).values.view(-1, 1, 1, 1)
    high = distance.flatten(1).max(1).values.view(-1, 1, 1, 1)
    return (distance - low) / (high - low).clamp_min(1e-6)


# --- extraction ---------------------------------------------------------------------------

def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``−Σ_k t_k log softmax(z)_k`` for targets (N, K) that are
    probabilities (normalized here: rounded or defended answers need not sum to 1), or
    plain cross-entropy for int64 labels (N,)."""
    if targets.ndim == 1:
        return F.cross_entropy(logits, targets)
    targets = targets / targets.sum(1, keepdim=True).clamp_min(1e-12)
    return -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()


def soft_label_step(model: nn.Module, batch) -> dict:
    """The extraction step for :func:`helpers.train.fit`: a batch is (queries, answers)
    with answers either labels (N,) or scores (N, K); the loss is
    :func:`soft_cross_entropy`. The recorded accuracy is agreement with the API's top-1
    answer on the training queries."""
    queries, answers = batch
    logits = model(queries)
    labels = answers if answers.ndim == 1 else answers.argmax(1)
    return {"loss": soft_cross_entropy(logits, answers), "logits": logits, "labels": labels}


def epochs_for(budget: int, steps: int, batch_size: int) -> int:
    """Epochs that give about ``steps`` optimizer steps on ``budget`` examples, so small
    and large budgets are trained for the same number of updates (at least one epoch)."""
    check_positive_int("budget", budget)
    return max(1, round(steps / math.ceil(budget / batch_size)))


class Theft(NamedTuple):
    """What :func:`steal` returns: the surrogate, its history, the queries it cost."""
    surrogate: nn.Module
    history: dict
    queries: int


def steal(api: QueryAPI, queries: torch.Tensor, surrogate: nn.Module, *, steps: int,
          batch_size: int = 32, lr: float = 2e-3, seed: int = 0, checkpoint=None,
          desc: str = "steal") -> Theft:
    """Send ``queries`` (N, C, H, W) to ``api`` in one batch (N queries), then train
    ``surrogate`` on the (query, answer) pairs with :func:`soft_label_step` and Adam for
    about ``steps`` updates (:func:`epochs_for`). Returns a :class:`Theft`.

    With a ``checkpoint`` path whose file was trained with the same settings the
    surrogate is loaded instead of trained; the queries are still sent (and counted),
    as the thief's answers are part of the experiment.
    """
    check_module("surrogate", surrogate)
    answers = api.query(queries)
    history = train.fit(surrogate, TensorDataset(queries, answers),
                        epochs=epochs_for(len(queries), steps, batch_size),
                        batch_size=batch_size, optimizer="adam", lr=lr, step=soft_label_step,
                        seed=seed, checkpoint=checkpoint, progress=False, desc=desc)
    return Theft(surrogate, history, len(queries))


def agreement(labels_a: torch.Tensor, labels_b: torch.Tensor) -> float:
    """Share of positions where two label vectors agree, in [0, 1]. Either argument may
    be scores (N, K); its argmax is used."""
    a = labels_a.argmax(1) if labels_a.ndim == 2 else labels_a
    b = labels_b.argmax(1) if labels_b.ndim == 2 else labels_b
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"labels: expected two non-empty vectors of the same length, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}.")
    return (a.cpu() == b.cpu()).double().mean().item()


def model_agreement(model_a: nn.Module, model_b: nn.Module, images: torch.Tensor) -> float:
    """:func:`agreement` of two classifiers' top-1 labels on ``images`` (N, C, H, W)."""
    check_images("images", images)
    return agreement(model_logits(model_a, images), model_logits(model_b, images))


__all__ = ["QueryAPI", "BudgetExceeded", "round_scores", "top1_only", "reverse_sigmoid",
           "keeps_top1", "uniform_noise", "match_shape", "strokes_on_black", "soft_cross_entropy",
           "soft_label_step", "epochs_for", "steal", "Theft", "agreement", "model_agreement"]
