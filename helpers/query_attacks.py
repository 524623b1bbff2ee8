"""Query-based black-box attacks: the score-based Square attack (L∞) through a query API.

The attacker never sees gradients or weights: only the scores a :class:`QueryAPI`
answers (probabilities, counted one query per image). Square attack (Andriushchenko et
al. 2020) is a random search: start from vertical stripes of ±ε, then repeatedly
overwrite one random square window of the perturbation with ±2ε per channel (projected
back onto the ε-ball and [0, 1]) and keep the change when it lowers the margin
``log p_y − max_{k≠y} log p_k`` (the logit margin: softmax shifts every logit by the
same amount). An image counts as fooled once the margin is <= 0.

Step for step this follows torchattacks' ``Square`` (``norm="Linf"``, ``loss="margin"``,
``resc_schedule=True``, one restart), itself the AutoAttack port of the authors' code,
including its random draws: seeded alike, and fed the same scores, the two return the
same images for every image they fool (tests/test_query_attacks.py checks this); for an
image not fooled within the budget, torchattacks returns the clean image and this
function the best perturbed one found (lowest margin). Where both differ from the
paper's own code: one window position and one sign per channel are drawn per iteration
and shared by all images of the batch (the paper's code draws them per image); each
image still accepts or rejects its own proposal.

Query accounting, per image: 1 query for the clean image (is it already misclassified?),
1 for the stripes, then 1 per iteration until it is fooled, so at most ``max_queries``;
torchattacks' ``n_queries`` is ``max_queries - 2`` in these terms.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from helpers.checks import check_int, check_labels, check_pixels

__all__ = ["SquareResult", "square_attack", "square_size", "success_curve", "margins"]


class SquareResult(NamedTuple):
    """Adversarial images (N, C, H, W) in [0, 1]; ``queries`` (N,) int64 spent per image;
    ``fooled`` (N,) bool (wrong label at the end; True with 1 query when the clean
    image was already misclassified)."""
    adversarial: torch.Tensor
    queries: torch.Tensor
    fooled: torch.Tensor


def margins(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``log p_y − max_{k≠y} log p_k`` per row of probabilities (N, K): > 0 when the
    label ``y`` is still the top class."""
    log_scores = torch.log(scores.clamp_min(1e-30))
    rows = torch.arange(len(labels))
    true = log_scores[rows, labels].clone()
    log_scores[rows, labels] = -math.inf
    return true - log_scores.max(1).values


def square_size(p_init: float, iteration: int, max_iterations: int, area: int) -> int:
    """Side of the square window at ``iteration`` (of ``max_iterations``): the fraction
    ``p`` of the ``area`` = H·W pixels halves at iterations 10, 50, 200, 500, 1000,
    2000, 4000, 6000 and 8000 of a 10,000-iteration run (rescaled to the run's length)."""
    step = int(iteration / max_iterations * 10000)
    halvings = sum(step > mark for mark in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
    return max(int(round(math.sqrt(p_init / 2 ** halvings * area))), 1)


def square_attack(api, images: torch.Tensor, labels: torch.Tensor, eps: float, *,
                  max_queries: int = 1000, p_init: float = 0.8, seed: int = 0) -> SquareResult:
    """Untargeted L∞ Square attack on the classifier behind ``api`` (anything with a
    ``query(images) -> probabilities (N, K)`` method, e.g. :class:`QueryAPI`).

    ``images`` float (N, C, H, W) in [0, 1], ``labels`` int (N,) true classes, ``eps``
    in (0, 1] in pixel units; ``max_queries`` >= 2 per image (module docstring);
    ``p_init`` in (0, 1]: the first window covers that share of the image. Random
    draws come from ``torch.manual_seed(seed)``; the global generator's state is
    restored afterwards. Returns a :class:`SquareResult`; ``|adversarial − images|∞ <= eps``.
    """
    images = check_pixels("images", images).detach().cpu()
    labels = check_labels("labels", labels, len(images)).cpu().long()
    if not isinstance(eps, (int, float)) or not 0 < eps <= 1:
        raise ValueError(f"eps={eps!r}: expected a number in (0, 1] (pixel units).")
    max_queries = check_int("max_queries", max_queries, 2)
    if not isinstance(p_init, (int, float)) or not 0 < p_init <= 1:
        raise ValueError(f"p_init={p_init!r}: expected a number in (0, 1].")
    adversarial = images.clone()
    queries = torch.ones(len(images), dtype=torch.int64)       # the clean query
    fooled = api.query(images).argmax(1).cpu() != labels
    attack = (~fooled).nonzero().flatten()
    if len(attack):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            search = _random_search(api, images[attack], labels[attack], float(eps),
                                    max_queries - 2, p_init)
        adversarial[attack] = search.best
        queries[attack] += search.queries
        fooled[attack] = search.margin <= 0
    return SquareResult(adversarial, queries, fooled)


class _Search(NamedTuple):
    best: torch.Tensor      # (n, C, H, W) the best images found
    queries: torch.Tensor   # (n,) queries spent: the stripes + one per iteration
    margin: torch.Tensor    # (n,) margin of ``best``; <= 0 = fooled


def _sign(shape) -> torch.Tensor:
    """±1 per entry from the global generator, drawn as torchattacks draws it."""
    return torch.sign(2 * torch.rand(shape) - 1)


def _random_search(api, x: torch.Tensor, y: torch.Tensor, eps: float, iterations: int,
                   p_init: float) -> _Search:
    channels, height, width = x.shape[1:]
    # start: vertical stripes, one sign per (image, channel, column)
    best = (x + eps * _sign([len(x), channels, 1, width])).clamp(0, 1)
    margin = loss = margins(api.query(best), y)
    margin, loss = margin.clone(), loss.clone()
    spent = torch.ones(len(x), dtype=torch.int64)
    for iteration in range(iterations):
        active = (margin > 0).nonzero().flatten()
        if len(active) == 0:
            break
        side = square_size(p_init, iteration, iterations, height * width)
        top = int(torch.rand([1]) * (height - side))
        left = int(torch.rand([1]) * (width - side))
        window = torch.zeros(channels, height, width)
        window[:, top:top + side, left:left + side] = 2.0 * eps * _sign([channels, 1, 1])
        origin = x[active]
        proposal = torch.minimum(torch.maximum(best[active] + window, origin - eps),
                                 origin + eps).clamp(0, 1)
        new_margin = margins(api.query(proposal), y[active])
        better = new_margin < loss[active]
        loss[active] = torch.where(better, new_margin, loss[active])
        keep = better | (new_margin <= 0)
        margin[active] = torch.where(keep, new_margin, margin[active])
        best[active] = torch.where(keep.view(-1, 1, 1, 1), proposal, best[active])
        spent[active] += 1
    return _Search(best, spent, margin)


def success_curve(result: SquareResult, budgets) -> list[float]:
    """Share of images fooled within each budget (queries per image), in [0, 1]:
    non-decreasing in the budget, read off one run."""
    budgets = [check_int("budgets", int(b), 1) for b in budgets]
    return [((result.queries <= b) & result.fooled).double().mean().item() for b in budgets]
