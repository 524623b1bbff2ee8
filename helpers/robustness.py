"""Chapter 2 (robustness): adversarial training, robust accuracy, embeddings and k-NN.

The attacks themselves are in :mod:`helpers.attacks`. This module trains the chapter's
three models (standard, adversarially trained, circle loss), measures clean and robust
accuracy (also as a curve over ε), builds the spec's "20 white pixels, then FGSM"
corruption, and extracts and maps the penultimate features (k-NN, UMAP/t-SNE).
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from helpers import attacks
from helpers.losses import circle_loss
from helpers.train import get_device, set_seed

LOSSES = ("cross_entropy", "circle")


# --- training -------------------------------------------------------------------------------

def _adversarial_batch(model, images, labels, adversarial: dict) -> torch.Tensor:
    """The batch with its first ``fraction`` replaced by attacked copies (batches are shuffled)."""
    count = round(adversarial.get("fraction", 0.5) * len(images))
    if count == 0:
        return images
    settings = {k: v for k, v in adversarial.items() if k not in ("attack", "fraction")}
    attacked = attacks.ATTACKS[adversarial["attack"]](model, images[:count], labels[:count],
                                                      **settings)
    return torch.cat([attacked, images[count:]])


def train_model(model: nn.Module, train_data: Dataset, *, epochs: int, batch_size: int = 64,
                lr: float = 2e-3, loss: str = "cross_entropy", adversarial: dict | None = None,
                circle_m: float = 0.4, circle_gamma: float = 80.0, seed: int = 0,
                device: str = "auto", progress: bool = True, desc: str = "train") -> dict:
    """Train ``model`` (a :class:`helpers.models.Classifier`) in place with Adam; return its history.

    ``loss="cross_entropy"`` trains the logits; ``loss="circle"`` trains the penultimate
    embedding ``model.embed`` with :func:`helpers.losses.circle_loss` (``circle_m``,
    ``circle_gamma``) and leaves the head unused. ``adversarial`` turns on adversarial
    training: e.g. ``{"attack": "pgd", "fraction": 0.5, "eps": 8/255, "step_size":
    2/255, "steps": 3}`` replaces that fraction of every batch by examples the attack
    crafts against the current model. The history has :func:`helpers.train.fit`'s keys;
    ``train_acc`` is NaN for the circle loss (it has no logits).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}: expected one of {', '.join(LOSSES)}.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r}: expected a positive int.")
    if adversarial is not None:
        if adversarial.get("attack") not in ("fgsm", "pgd", "bim"):
            raise ValueError(f"adversarial['attack']={adversarial.get('attack')!r}: "
                             f"expected 'fgsm', 'pgd' or 'bim'.")
        if not 0 <= adversarial.get("fraction", 0.5) <= 1:
            raise ValueError(f"adversarial['fraction']={adversarial['fraction']!r}: "
                             f"expected a fraction in [0, 1].")
    device = get_device(device)
    set_seed(seed)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(train_data, batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    history = {key: [] for key in ("epoch", "train_loss", "train_acc", "val_loss",
                                   "val_acc", "lr", "seconds")}
    bar = tqdm(total=epochs * len(loader), desc=desc, disable=not progress, leave=False,
               mininterval=0.5)
    try:
        for epoch in range(1, epochs + 1):
            start, total_loss, correct, seen = time.perf_counter(), 0.0, 0, 0
            model.train()
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                if adversarial is not None:
                    images = _adversarial_batch(model, images, labels, adversarial)
                if loss == "circle":
                    value = circle_loss(model.embed(images), labels, circle_m, circle_gamma)
                else:
                    logits = model(images)
                    value = F.cross_entropy(logits, labels)
                    correct += (logits.argmax(1) == labels).sum().item()
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                optimizer.step()
                total_loss += value.item() * len(labels)
                seen += len(labels)
                bar.update()
            history["epoch"].append(epoch)
            history["train_loss"].append(total_loss / seen)
            history["train_acc"].append(correct / seen if loss != "circle" else float("nan"))
            history["lr"].append(lr)
            history["seconds"].append(time.perf_counter() - start)
            bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}")
    finally:
        bar.close()
    model.eval()
    return history


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

    UMAP compiles its numerical kernels on first use (about half a minute of CPU once
    per process); t-SNE needs no compilation and is the tiny profile's choice.
    """
    features = np.asarray(features, dtype=np.float32)
    if method == "umap":
        import umap

        return umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=seed,
                         n_jobs=1).fit_transform(features)
    if method == "tsne":
        from sklearn.manifold import TSNE

        return TSNE(2, perplexity=min(30, (len(features) - 1) / 3), init="pca",
                    random_state=seed).fit_transform(features)
    raise ValueError(f"method={method!r}: expected 'umap' or 'tsne'.")


def feature_maps(maps: dict[str, np.ndarray], labels, class_names, title: str | None = None,
                 method: str = "umap") -> plt.Figure:
    """Scatter plots side by side, one per ``{panel title: (N, 2) map}``, coloured by class."""
    if not maps:
        raise ValueError("maps is empty: pass {panel title: (N, 2) coordinates}.")
    labels = np.asarray(labels)
    fig, axes = plt.subplots(1, len(maps), figsize=(4.2 * len(maps), 4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (name, points) in zip(axes[0], maps.items()):
        for k, class_name in enumerate(class_names):
            chosen = labels == k
            ax.scatter(points[chosen, 0], points[chosen, 1], s=7, color=colours(k), label=class_name)
        ax.set(title=name, xticks=[], yticks=[], xlabel=f"{method} 1", ylabel=f"{method} 2")
    axes[0, -1].legend(fontsize="x-small", markerscale=2, loc="center left",
                       bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_curves(epsilons, curves: dict[str, list[float]], title: str | None = None) -> plt.Figure:
    """Robust accuracy (%) against ε (shown in units of 1/255), one line per model."""
    if not curves:
        raise ValueError("curves is empty: pass {model name: accuracies}.")
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, values in curves.items():
        ax.plot(np.asarray(epsilons) * 255, np.asarray(values) * 100, marker="o", label=name)
    ax.set(xlabel="ε (× 1/255)", ylabel="robust accuracy (%)", ylim=(0, 100),
           title=title or "robust accuracy vs attack strength")
    ax.axhline(10, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
