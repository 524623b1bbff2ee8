"""Chapter 2 (robustness): adversarial training, robust accuracy, embeddings and k-NN.

The attacks themselves are in :mod:`helpers.attacks`, the figures in
:mod:`helpers.robustness_plots`. This module holds the training steps that
:func:`helpers.train.fit` runs for the chapter's adversarially trained (PGD, TRADES) and
circle-loss models, measures clean and robust accuracy (also as a curve over ε), builds
the spec's "20 white pixels, then FGSM" corruption, and maps the penultimate features
(k-NN, UMAP/t-SNE).
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers import attacks
from helpers.checks import check_fraction, check_int, check_module, check_pixels
from helpers.losses import circle_loss
from helpers.models import model_state_guard

TRAINING_ATTACKS = ("fgsm", "pgd", "bim")


# --- training steps for helpers.train.fit -------------------------------------------------

def adversarial_batch(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                      attack: str = "pgd", fraction: float = 0.5, **settings) -> torch.Tensor:
    """The batch (N, C, H, W) with its first ``round(fraction · N)`` images replaced by
    copies that ``attack`` (``"fgsm"``, ``"pgd"`` or ``"bim"``, with ``settings`` such as
    ``eps``) crafts against the current model; batches are shuffled, so "first" is random.
    """
    craft = _training_attack(attack)
    count = round(check_fraction("fraction", fraction) * len(images))
    if count == 0:
        return images
    attacked = craft(model, images[:count], labels[:count], **settings)
    return torch.cat([attacked, images[count:]])


def _training_attack(attack: str):
    """The attack function of ``attack``, one of :data:`TRAINING_ATTACKS`."""
    if attack not in TRAINING_ATTACKS:
        raise ValueError(f"attack={attack!r}: expected one of {', '.join(TRAINING_ATTACKS)}.")
    return attacks.ATTACKS[attack]


def adversarial_step(attack: str = "pgd", fraction: float = 0.5, **settings):
    """A :func:`helpers.train.fit` step for adversarial training: cross-entropy on the
    batch after :func:`adversarial_batch` replaced ``fraction`` of it (e.g. ``attack="pgd",
    fraction=0.5, eps=8/255, step_size=2/255, steps=3``)."""
    _training_attack(attack)
    check_fraction("fraction", fraction)

    def step(model: nn.Module, batch) -> dict:
        images, labels = batch
        images = adversarial_batch(model, images, labels, attack, fraction, **settings)
        logits = model(images)
        return {"loss": F.cross_entropy(logits, labels), "logits": logits, "labels": labels}

    return step


def trades_adversarial(model: nn.Module, images: torch.Tensor, eps: float, step_size: float,
                       steps: int) -> torch.Tensor:
    """TRADES' inner maximization (Zhang et al. 2019): PGD on ``KL(f(x) ‖ f(x'))`` in the
    L∞ ball of radius ``eps`` around ``images`` (N, C, H, W) in [0, 1], starting from
    ``x + 0.001·N(0, 1)`` (torch's global generator, which a seeded ``fit`` seeds), with
    ``steps`` signed steps of ``step_size``, each projected onto the ball ∩ [0, 1].

    Runs in eval mode with the parameters frozen, as the authors' code does, and restores
    the model. Returns x' (N, C, H, W), detached, with ``‖x' − x‖∞ ≤ eps``.
    """
    check_module("model", model)
    images = check_pixels("images", images).detach()
    lower, upper = (images - eps).clamp(min=0), (images + eps).clamp(max=1)
    with model_state_guard(model):
        clean = F.softmax(model(images), dim=1)
        # the authors' start: x' = x would have a zero KL gradient (a minimum of the KL)
        adversarial = torch.minimum(torch.maximum(
            images + 0.001 * torch.randn(images.shape, device=images.device), lower), upper)
        for _ in range(steps):
            adversarial.requires_grad_(True)
            divergence = F.kl_div(F.log_softmax(model(adversarial), dim=1), clean,
                                  reduction="sum")
            gradient, = torch.autograd.grad(divergence, adversarial)
            adversarial = adversarial.detach() + step_size * gradient.sign()
            adversarial = torch.minimum(torch.maximum(adversarial, lower), upper)
    return adversarial.detach()


def trades_step(beta: float = 6.0, eps: float = 8 / 255, step_size: float = 2 / 255,
                steps: int = 10):
    """A :func:`helpers.train.fit` step for TRADES (Zhang et al. 2019): the loss
    ``CE(f(x), y) + β · KL(f(x) ‖ f(x'))`` (KL averaged over the batch), x' from
    :func:`trades_adversarial` with ``eps``, ``step_size`` and ``steps``. Both passes
    run in training mode and the gradient flows through both (as in the authors' code).
    β trades clean accuracy for robustness (the paper's 1/λ; 6 on CIFAR-10); with β = 0
    the robust term vanishes and is not computed: plain cross-entropy training. Records
    the batch's ``kl`` in the history."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
        raise ValueError(f"beta={beta!r}: expected a number >= 0.")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"eps={eps!r}: expected a number >= 0 (pixel units, e.g. 8/255).")
    if isinstance(step_size, bool) or not isinstance(step_size, (int, float)) or step_size < 0:
        raise ValueError(f"step_size={step_size!r}: expected a number >= 0.")
    check_int("steps", steps, 1)

    def step(model: nn.Module, batch) -> dict:
        images, labels = batch
        if beta == 0:
            logits = model(images)
            return {"loss": F.cross_entropy(logits, labels), "logits": logits, "labels": labels}
        # the authors' order: x' first (eval mode), then both passes in training mode
        adversarial = trades_adversarial(model, images, eps, step_size, steps)
        logits = model(images)
        divergence = F.kl_div(F.log_softmax(model(adversarial), dim=1),
                              F.softmax(logits, dim=1), reduction="batchmean")
        return {"loss": F.cross_entropy(logits, labels) + beta * divergence,
                "logits": logits, "labels": labels, "kl": divergence.item()}

    return step


def circle_step(m: float = 0.4, gamma: float = 80.0):
    """A :func:`helpers.train.fit` step that trains the penultimate embedding
    ``model.embed`` with :func:`helpers.losses.circle_loss` (margin ``m``, scale
    ``gamma``); the head stays unused. No logits, so fit records ``train_acc`` as NaN."""
    check_fraction("m", m)
    if not isinstance(gamma, (int, float)) or gamma <= 0:
        raise ValueError(f"gamma={gamma!r}: expected a positive scale.")

    def step(model: nn.Module, batch) -> dict:
        images, labels = batch
        return {"loss": circle_loss(model.embed(images), labels, m, gamma)}

    return step


# --- evaluation -----------------------------------------------------------------------------

def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` (N, C, H, W) in [0, 1] that ``model`` classifies as ``labels``."""
    predictions = attacks.predict_labels(model, images)
    return (predictions.cpu() == labels.cpu()).float().mean().item()


def attack_in_batches(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                      attack: str = "pgd", batch_size: int = 256, **settings) -> torch.Tensor:
    """Adversarial copies (N, C, H, W) of ``images`` made by ``attack`` in batches (on CPU)."""
    if attack not in attacks.ATTACKS:
        raise ValueError(f"attack={attack!r}: expected one of {', '.join(attacks.ATTACKS)}.")
    function = attacks.ATTACKS[attack]
    pieces = []
    for start in range(0, len(images), batch_size):
        batch, targets = images[start:start + batch_size], labels[start:start + batch_size]
        if attack == "deepfool":
            pieces.append(function(model, batch, **settings).cpu())
        else:
            pieces.append(function(model, batch, targets, **settings).cpu())
    return torch.cat(pieces)


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                    attack: str = "pgd", batch_size: int = 256, **settings) -> float:
    """Accuracy of ``model`` on ``attack``'s adversarial copies of ``images`` (fraction)."""
    adversarial = attack_in_batches(model, images, labels, attack, batch_size, **settings)
    return accuracy(model, adversarial, labels)


def robust_accuracy_curve(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                          epsilons, attack: str = "pgd", steps: int = 10,
                          relative_step: float = 0.25) -> list[float]:
    """Robust accuracy at each ε of ``epsilons`` (pixel units): a list of fractions.

    ``attack="pgd"`` uses ``steps`` steps of ``relative_step · ε`` without random start
    (deterministic); ``"fgsm"`` ignores both. ε = 0 gives the clean accuracy.
    """
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack={attack!r}: expected 'fgsm' or 'pgd'.")
    curve = []
    for eps in epsilons:
        if eps == 0:
            curve.append(accuracy(model, images, labels))
        elif attack == "fgsm":
            curve.append(robust_accuracy(model, images, labels, "fgsm", eps=eps))
        else:
            curve.append(robust_accuracy(model, images, labels, "pgd", eps=eps,
                                         step_size=relative_step * eps, steps=steps))
    return curve


def white_pixels(images: torch.Tensor, count: int = 20, seed: int = 0) -> torch.Tensor:
    """Copies of ``images`` (N, C, H, W) with ``count`` random pixels per image set to white.

    Pixel positions are drawn independently per image, deterministically from ``seed``.
    """
    if not isinstance(count, int) or not 0 <= count <= images.shape[-1] * images.shape[-2]:
        raise ValueError(f"count={count!r}: expected an int between 0 and the pixels per image.")
    generator = torch.Generator().manual_seed(seed)
    height, width = images.shape[-2:]
    scores = torch.rand(len(images), height * width, generator=generator)
    chosen = scores.argsort(1)[:, :count]
    mask = torch.zeros(len(images), height * width, dtype=torch.bool)
    mask.scatter_(1, chosen, True)
    mask = mask.view(len(images), 1, height, width).to(images.device)
    return images.masked_fill(mask, 1.0)


def sign_noise(images: torch.Tensor, eps: float, seed: int = 0) -> torch.Tensor:
    """``images`` with every pixel moved by ±``eps`` at random (clipped to [0, 1]).

    The same budget as an L∞ attack, without aim: the baseline an attack must beat.
    """
    generator = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, images.shape, generator=generator).to(images) * 2 - 1
    return (images + eps * signs).clamp(0, 1)


def pixels_then_fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     eps: float, count: int = 20, seed: int = 0) -> torch.Tensor:
    """The course's "adversarial test set": ``count`` random white pixels, then FGSM at ``eps``."""
    return attack_in_batches(model, white_pixels(images, count, seed), labels, "fgsm", eps=eps)


# --- embeddings -------------------------------------------------------------------------------

def class_centroids(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean unit-normalized feature of each class: (num_classes, D)."""
    unit = F.normalize(features, dim=1)
    return torch.stack([unit[labels == k].mean(0) for k in range(num_classes)])


class CentroidClassifier(nn.Module):
    """Logits ``scale · cos(embed(x), centroid_k)`` for an embedding model without a head.

    A differentiable stand-in for the k-NN classifier on circle-loss embeddings, so that
    white-box attacks can be aimed at the embedding (:func:`class_centroids` gives the
    centroids).
    """

    def __init__(self, model: nn.Module, centroids: torch.Tensor, scale: float = 10.0):
        super().__init__()
        self.model, self.scale = model, scale
        self.register_buffer("centroids", F.normalize(centroids, dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(self.model.embed(x), dim=1) @ self.centroids.T


def knn_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor,
                 test_features: torch.Tensor, test_labels: torch.Tensor, k: int = 3) -> float:
    """Accuracy of a k-nearest-neighbour classifier (cosine distance) fit on the train features."""
    from sklearn.neighbors import KNeighborsClassifier

    if not isinstance(k, int) or not 1 <= k <= len(train_features):
        raise ValueError(f"k={k!r}: expected an int between 1 and the number of train features.")
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine")
    knn.fit(train_features.numpy(), train_labels.numpy())
    return float((knn.predict(test_features.numpy()) == test_labels.numpy()).mean())


def embed_2d(features: np.ndarray, method: str = "umap", seed: int = 0) -> np.ndarray:
    """A 2-D map (N, 2) of ``features`` (N, D) with UMAP (umap-learn) or t-SNE (scikit-learn).

    UMAP's numerical kernels are compiled by numba on first use, about 40 s of CPU; they
    are kept on disk (see :func:`warm_up_umap`), so later runs take seconds.
    """
    features = np.asarray(features, dtype=np.float32)
    if method == "umap":
        umap = _umap_with_disk_cache()
        return umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=seed,
                         n_jobs=1).fit_transform(features)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=min(30, (len(features) - 1) / 3), init="pca",
                    random_state=seed).fit_transform(features)
    raise ValueError(f"method={method!r}: expected 'umap' or 'tsne'.")


def _umap_with_disk_cache():
    """Import umap with every numba kernel of umap and pynndescent cached on disk.

    umap-learn compiles most of its kernels without ``cache=True``, so each new process
    would compile them again (about 15 s of the 40). Turning the cache on before their
    first call keeps them in numba's cache (the packages' __pycache__ folders, or
    $NUMBA_CACHE_DIR).
    """
    import umap
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("umap", "pynndescent")):
            continue
        for value in list(vars(module).values()):
            cache = getattr(value, "_cache", None)
            if isinstance(value, Dispatcher) and isinstance(cache, NullCache):
                value.enable_caching()
    return umap


def warm_up_umap() -> None:
    """Compile and cache UMAP's kernels once (``make env`` runs this), so that no notebook
    pays numba's first compilation. Uses the types :func:`embed_2d` passes: float32 (N, D)
    with N < 4096 (UMAP's exact-neighbour branch)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (4, 32))
    features = np.concatenate([c + rng.normal(0, 1, (50, 32)) for c in centres])
    embed_2d(features, "umap")
