"""Adversarial debiasing: a classifier and an adversary playing a GAN-like game.

The classifier f maps features x (F,) to a logit; P(y = 1 | x) = sigmoid(f(x)). The
adversary a reads only that probability and predicts each sensitive attribute z_k (one
logit per attribute). With binary cross-entropies L_y (income) and L_Z_k (attribute k):

    adversary:  min over θ_adv of  Σ_k L_Z_k
    classifier: min over θ_clf of  L_y − Σ_k λ_k L_Z_k

so the classifier is rewarded for predictions the adversary cannot read z from, which is
demographic parity. Schedule (the course report's): pretrain the classifier alone, then
the adversary on the frozen classifier; then each iteration trains the adversary one full
epoch with the classifier frozen, and the classifier on one random batch.

``projection=True`` is Zhang, Lemoine & Mitchell's (2018) update instead: with
g_y = ∇L_y and g_A = ∇ Σ_k λ_k L_Z_k, the classifier steps along
g_y − proj_{g_A} g_y − g_A, where the projection removes the part of g_y that would help
the adversary. It is taken per parameter tensor with the *Frobenius* inner product
⟨G, H⟩ = Σ_ij G_ij H_ij (a row-wise or element-wise product is the classic bug).

Inputs are arrays or DataFrames: X (N, F) float, y (N,) 0/1, Z (N, K) 0/1 with one column
per attribute; ``lambdas`` maps each column of Z to its λ.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from helpers.checks import check_int, check_positive_int
from helpers.fairness import p_percent_rule, roc_auc
from helpers.train import set_seed


class Players(NamedTuple):
    """The two models of the game: ``classifier`` (F → 1 logit of y) and ``adversary``
    (P(y=1) → one logit per sensitive attribute)."""

    classifier: nn.Module
    adversary: nn.Module


class Debiased(NamedTuple):
    """One game of a sweep: the debiased classifier and the history of :func:`debias`."""

    classifier: nn.Module
    history: dict


class Sweep(NamedTuple):
    """What :func:`lambda_sweep` returns: the final scores per λ scale (a table indexed
    by scale) and each scale's :class:`Debiased` game."""

    table: pd.DataFrame
    runs: dict[float, Debiased]


@contextlib.contextmanager
def single_thread():
    """Run torch on one CPU thread inside the block (restored after).

    These networks are so small that thread start-up dominates: on a busy 2-core machine
    one thread was 25x faster than two.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def mlp(inputs: int, outputs: int, hidden: int = 32, layers: int = 4,
        dropout: float = 0.0) -> nn.Sequential:
    """``layers`` hidden layers of ``hidden`` ReLU units (dropout after each), linear output."""
    blocks, width = [], inputs
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU()]
        blocks += [nn.Dropout(dropout)] if dropout else []
        width = hidden
    return nn.Sequential(*blocks, nn.Linear(width, outputs))


def make_classifier(n_features: int) -> nn.Sequential:
    """The spec's classifier: F → 4 × 32 ReLU, dropout 0.2 → 1 logit (sigmoid in the loss)."""
    return mlp(n_features, 1, dropout=0.2)


def make_adversary(n_attributes: int) -> nn.Sequential:
    """The spec's adversary: P(y=1) (1 input) → 4 × 32 ReLU → one logit per attribute."""
    return mlp(1, n_attributes)


def adversary_loss(z_logits: torch.Tensor, Z: torch.Tensor, balanced: bool = False) -> torch.Tensor:
    """Per-attribute BCE, shape (K,), of logits (N, K) against 0/1 targets (N, K).

    ``balanced=False``: the mean over the batch. ``balanced=True``: the mean of the two
    groups' mean losses, so a 10 % minority weighs as much as the majority (with plain
    BCE an adversary learns little beyond the prior of a rare group).
    """
    losses = F.binary_cross_entropy_with_logits(z_logits, Z, reduction="none")
    if not balanced:
        return losses.mean(dim=0)
    ones, zeros = Z.sum(dim=0), (1 - Z).sum(dim=0)
    group_means = ((losses * Z).sum(dim=0) / ones.clamp_min(1)
                   + (losses * (1 - Z)).sum(dim=0) / zeros.clamp_min(1))
    return group_means / ((ones > 0).float() + (zeros > 0).float())


def combined_loss(y_logits, y, z_logits, Z, lambdas: torch.Tensor,
                  balanced: bool = False) -> torch.Tensor:
    """The classifier's objective L_y − Σ_k λ_k L_Z_k (a scalar); logits (N,), (N, K)."""
    return (F.binary_cross_entropy_with_logits(y_logits, y)
            - (lambdas * adversary_loss(z_logits, Z, balanced)).sum())


def project(gradient: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Projection of ``gradient`` onto ``direction`` (same shape) in the Frobenius inner product.

    (⟨G, H⟩ / ⟨H, H⟩) · H with ⟨G, H⟩ = Σ over all entries of G ⊙ H; zero if H = 0.
    """
    if gradient.shape != direction.shape:
        raise ValueError(f"gradient {tuple(gradient.shape)} and direction "
                         f"{tuple(direction.shape)} must have the same shape.")
    norm = (direction * direction).sum()
    if norm == 0:
        return torch.zeros_like(gradient)
    return (gradient * direction).sum() / norm * direction


def as_tensors(X, y, Z) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float32 tensors X (N, F), y (N,), Z (N, K) from arrays or pandas objects."""
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y, dtype=np.float32)).reshape(-1)
    Z = torch.as_tensor(np.asarray(Z, dtype=np.float32))
    Z = Z.reshape(-1, 1) if Z.ndim == 1 else Z
    if X.ndim != 2 or not len(X) == len(y) == len(Z):
        raise ValueError(f"X, y, Z: expected (N, F), (N,), (N, K); got {tuple(X.shape)}, "
                         f"{tuple(y.shape)}, {tuple(Z.shape)}.")
    return X, y, Z


@torch.no_grad()
def predict_proba(classifier: nn.Module, X) -> torch.Tensor:
    """P(y = 1 | x), shape (N,), in eval mode (the ``training`` flag is restored)."""
    was_training = classifier.training
    classifier.eval()
    try:
        return torch.sigmoid(classifier(torch.as_tensor(np.asarray(X, dtype=np.float32)))).reshape(-1)
    finally:
        classifier.train(was_training)


def _batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    return order.split(batch_size)


def train_classifier(classifier, X, y, epochs: int, batch_size: int = 128, lr: float = 1e-3,
                     generator: torch.Generator | None = None) -> list[float]:
    """Pretraining: plain BCE on (X, y) tensors for ``epochs``; returns the mean loss per epoch."""
    generator = generator or torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr, fused=True)
    classifier.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for index in _batches(len(y), batch_size, generator):
            loss = F.binary_cross_entropy_with_logits(classifier(X[index]).reshape(-1), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        losses.append(total / len(y))
    classifier.eval()
    return losses


def adversary_epoch(adversary, classifier, X, Z, optimizer, batch_size: int = 128,
                    generator: torch.Generator | None = None, balanced: bool = False) -> float:
    """One full epoch of the adversary on the frozen classifier's P(y=1|x); mean loss."""
    generator = generator or torch.Generator().manual_seed(0)
    probabilities = predict_proba(classifier, X).reshape(-1, 1)
    adversary.train()
    total = 0.0
    for index in _batches(len(Z), batch_size, generator):
        loss = adversary_loss(adversary(probabilities[index]), Z[index], balanced).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
    return total / len(Z)


def classifier_step(classifier, adversary, x, y, Z, lambdas: torch.Tensor, optimizer,
                    projection: bool = False, balanced: bool = False) -> float:
    """One update of the classifier on a batch against the fixed adversary; returns L_y.

    Steps along g_y − g_A (the gradient of L_y − Σ λ_k L_Z_k), or with ``projection``
    along g_y − proj_{g_A} g_y − g_A (Zhang et al.). The adversary is not changed.
    """
    classifier.train()
    parameters = [p for p in classifier.parameters() if p.requires_grad]
    logits = classifier(x).reshape(-1)
    probabilities = torch.sigmoid(logits)
    loss_y = F.binary_cross_entropy_with_logits(logits, y)
    z_logits = adversary(probabilities.reshape(-1, 1))
    loss_adversary = (lambdas * adversary_loss(z_logits, Z, balanced)).sum()
    grads_y = torch.autograd.grad(loss_y, parameters, retain_graph=True)
    grads_a = torch.autograd.grad(loss_adversary, parameters)
    for parameter, g_y, g_a in zip(parameters, grads_y, grads_a):
        step = g_y - g_a
        parameter.grad = step - project(g_y, g_a) if projection else step
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_y.item()


def evaluate(classifier, adversary, X, y, Z, attributes) -> dict:
    """Accuracy, ROC AUC, p%-rule and adversary ROC AUC per attribute, all in %."""
    probabilities = predict_proba(classifier, X)
    predictions = (probabilities > 0.5).int().numpy()
    labels = y.numpy().astype(int)
    with torch.no_grad():
        z_scores = adversary.eval()(probabilities.reshape(-1, 1)).numpy()
    scores = {"accuracy": 100 * float((predictions == labels).mean()),
              "roc_auc": 100 * roc_auc(labels, probabilities.numpy())}
    for k, attribute in enumerate(attributes):
        z = Z[:, k].numpy().astype(int)
        with warnings.catch_warnings():   # a constant classifier is a valid point of the curve
            warnings.simplefilter("ignore", RuntimeWarning)
            scores[f"p_rule_{attribute}"] = p_percent_rule(predictions, z)
        scores[f"adversary_auc_{attribute}"] = 100 * roc_auc(z, z_scores[:, k])
    return scores


@single_thread()
def pretrain(X, y, Z, *, epochs: int = 2, adversary_epochs: int = 5, batch_size: int = 128,
             lr: float = 1e-3, balanced: bool = False, seed: int = 0) -> Players:
    """A fresh classifier trained ``epochs`` on (X, y), then a fresh adversary trained
    ``adversary_epochs`` on its frozen outputs; both are returned in eval mode.
    """
    for name, value in (("epochs", epochs), ("adversary_epochs", adversary_epochs),
                        ("batch_size", batch_size)):
        check_positive_int(name, value)
    X, y, Z = as_tensors(X, y, Z)
    set_seed(seed)
    classifier, adversary = make_classifier(X.shape[1]), make_adversary(Z.shape[1])
    generator = torch.Generator().manual_seed(seed)
    train_classifier(classifier, X, y, epochs, batch_size, lr, generator)
    optimizer = torch.optim.Adam(adversary.parameters(), lr=lr, fused=True)
    for _ in range(adversary_epochs):
        adversary_epoch(adversary, classifier, X, Z, optimizer, batch_size, generator, balanced)
    return Players(classifier, adversary.eval())


@single_thread()
def debias(classifier, adversary, train: tuple, test: tuple, lambdas: dict, *,
           iterations: int, batch_size: int = 128, lr: float = 1e-3, projection: bool = False,
           balanced: bool = False, seed: int = 0, progress: bool = True, desc: str = "debias") -> dict:
    """Play the game for ``iterations`` rounds, changing both models in place.

    ``train``/``test`` are ``(X, y, Z)`` with ``Z`` a DataFrame holding a column per key of
    ``lambdas`` ({attribute: λ ≥ 0}). Each round: one adversary epoch (classifier frozen),
    then one classifier step on a random batch. Returns the history: lists per iteration
    (0 = before the game) of ``accuracy``, ``roc_auc``, ``p_rule_<attribute>`` and
    ``adversary_auc_<attribute>`` on ``test`` (all %), and ``loss_y`` (training batch).
    """
    check_int("iterations", iterations, 0)
    if not lambdas or any(value < 0 for value in lambdas.values()):
        raise ValueError(f"lambdas={lambdas!r}: expected {{attribute: λ >= 0}}.")
    attributes = list(lambdas)
    for name, (_, _, Z) in (("train", train), ("test", test)):
        if not isinstance(Z, pd.DataFrame) or set(attributes) - set(Z.columns):
            raise ValueError(f"{name}: Z must be a DataFrame with columns {attributes}.")
    X, y, Z = as_tensors(train[0], train[1], train[2][attributes])
    X_test, y_test, Z_test = as_tensors(test[0], test[1], test[2][attributes])
    weights = torch.tensor([float(lambdas[a]) for a in attributes])
    # dropout draws from the global generator: seeded here, a game does not depend on
    # what ran before it (the order of a sweep, the notebook's other cells)
    set_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    # fused: one kernel per step instead of a Python loop over tensors; the adversary's
    # many tiny steps made Adam's bookkeeping most of the game's time
    clf_optimizer = torch.optim.Adam(classifier.parameters(), lr=lr, fused=True)
    adv_optimizer = torch.optim.Adam(adversary.parameters(), lr=lr, fused=True)
    history = {"iteration": [0], "loss_y": [None]}   # no training batch before the game
    for key, value in evaluate(classifier, adversary, X_test, y_test, Z_test, attributes).items():
        history[key] = [value]
    # a long refresh interval: notebooks record every refresh as a line of output
    bar = tqdm(range(1, iterations + 1), desc=desc, disable=not progress, leave=False,
               mininterval=3.0)
    try:
        for iteration in bar:
            adversary_epoch(adversary, classifier, X, Z, adv_optimizer, batch_size, generator,
                            balanced)
            batch = torch.randint(len(y), (min(batch_size, len(y)),), generator=generator)
            loss_y = classifier_step(classifier, adversary, X[batch], y[batch], Z[batch],
                                     weights, clf_optimizer, projection, balanced)
            scores = evaluate(classifier, adversary, X_test, y_test, Z_test, attributes)
            history["iteration"].append(iteration)
            history["loss_y"].append(loss_y)
            for key, value in scores.items():
                history[key].append(value)
            bar.set_postfix(acc=f"{scores['accuracy']:.1f}",
                            **{a: f"{scores[f'p_rule_{a}']:.0f}%" for a in attributes})
    finally:
        bar.close()
        classifier.eval()
        adversary.eval()
    return history


def lambda_sweep(classifier, adversary, train: tuple, test: tuple, lambdas: dict,
                 scales, **kwargs) -> Sweep:
    """:func:`debias` from copies of the same pretrained pair, with λ × each scale.

    The table holds the final accuracy, ROC AUC and p%-rule per attribute (%) of each
    scale. ``kwargs`` go to :func:`debias`.
    """
    if not len(scales) or any(scale < 0 for scale in scales):
        raise ValueError(f"scales={scales!r}: expected non-negative numbers.")
    rows, runs = {}, {}
    for scale in scales:
        clf, adv = copy.deepcopy(classifier), copy.deepcopy(adversary)
        scaled = {attribute: value * scale for attribute, value in lambdas.items()}
        history = debias(clf, adv, train, test, scaled, desc=f"λ × {scale:g}", **kwargs)
        rows[scale] = {"accuracy": history["accuracy"][-1], "ROC AUC": history["roc_auc"][-1],
                       **{f"p% {a}": history[f"p_rule_{a}"][-1] for a in lambdas}}
        runs[scale] = Debiased(clf, history)
    return Sweep(pd.DataFrame(rows).T.rename_axis("λ scale"), runs)
