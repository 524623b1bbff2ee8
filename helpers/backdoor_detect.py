"""Chapter 4 (backdoors): detectors that look for poisoned samples in latent space.

A backdoored model represents "target image" and "source image with a trigger" with
different penultimate features, even though both carry the target label. Within the
target class the poisoned samples then form a separate group:

- *activation clustering* (Chen et al., 2018): per class, reduce the centred activations
  to a few principal components and split them with 2-means; a small cluster (at most
  ``max_cluster_fraction`` of the class) is flagged as poisoned.
- *spectral signatures* (Tran et al., 2018): per class, score each sample by its squared
  projection on the top singular vector of the centred representations, and remove the
  ``1.5 · ε · n`` highest scores, ε being the assumed poisoned fraction.

Latents are float (N, D) arrays/tensors, labels int (N,), flags bool (N,) numpy arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from helpers.checks import check_fraction, check_positive_int


class Detection(NamedTuple):
    """A detector's verdict: ``flags`` bool (N,), True = flagged as poisoned, and
    ``scores`` float (N,), the per-sample score it ranked or split by."""
    flags: np.ndarray
    scores: np.ndarray


def _latents_and_labels(latent_matrix, labels) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(latent_matrix, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2:
        raise ValueError(f"latents: expected a matrix (N, D), got shape {z.shape}.")
    if y.shape != (len(z),):
        raise ValueError(f"labels: expected shape ({len(z)},), got {y.shape}.")
    return z, y


def spectral_scores(latent_matrix) -> np.ndarray:
    """Outlier score per row: squared projection of the centred row on the top right
    singular vector of the centred matrix. (N, D) → (N,), non-negative."""
    z = np.asarray(latent_matrix, dtype=np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"latents: expected a matrix (N >= 2, D), got shape {z.shape}.")
    centred = z - z.mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][0]
    return (centred @ top) ** 2


def spectral_signatures(latent_matrix, labels, epsilon: float) -> Detection:
    """Flag the ``round(1.5 · epsilon · n_c)`` highest spectral scores in every class c.

    ``epsilon`` in (0, 1): the defender's bound on the poisoned fraction of a class.
    Returns a :class:`Detection`: ``flags`` and the per-class spectral ``scores``.
    """
    z, y = _latents_and_labels(latent_matrix, labels)
    check_fraction("epsilon", epsilon, low_open=True, high_open=True)
    flags, scores = np.zeros(len(y), dtype=bool), np.zeros(len(y))
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if len(members) < 2:
            continue
        scores[members] = spectral_scores(z[members])
        count = min(len(members), round(1.5 * epsilon * len(members)))
        flags[members[np.argsort(-scores[members], kind="stable")[:count]]] = True
    return Detection(flags, scores)


def activation_clustering(latent_matrix, labels, components: int = 10,
                          max_cluster_fraction: float = 0.35,
                          seed: int = 0) -> Detection:
    """Per class: PCA to ``components`` dimensions, 2-means, flag the smaller cluster when
    it holds at most ``max_cluster_fraction`` of the class.

    Returns a :class:`Detection`: ``flags``, and as ``scores`` the distance of each
    sample to its own class's *larger* cluster centre in the reduced space.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    z, y = _latents_and_labels(latent_matrix, labels)
    check_positive_int("components", components)
    if not 0.0 < max_cluster_fraction < 0.5:
        raise ValueError(f"max_cluster_fraction={max_cluster_fraction!r}: expected (0, 0.5).")
    flags, distances = np.zeros(len(y), dtype=bool), np.zeros(len(y))
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if len(members) < 4:
            continue
        keep = min(components, z.shape[1], len(members) - 1)
        reduced = PCA(keep, random_state=seed).fit_transform(z[members] - z[members].mean(0))
        kmeans = KMeans(2, n_init=10, random_state=seed).fit(reduced)
        sizes = np.bincount(kmeans.labels_, minlength=2)
        small = int(np.argmin(sizes))
        distances[members] = np.linalg.norm(reduced - kmeans.cluster_centers_[1 - small], axis=1)
        if sizes[small] <= max_cluster_fraction * len(members):
            flags[members[kmeans.labels_ == small]] = True
    return Detection(flags, distances)


def detection_rates(flags, poisoned) -> dict:
    """How well ``flags`` (bool (N,)) find the ``poisoned`` samples (bool (N,)).

    ``tpr`` (= recall): poisoned samples flagged / poisoned; ``fpr``: clean flagged / clean;
    ``precision``: poisoned among flagged (0 when nothing is flagged); ``flagged``: count.
    """
    flags, poisoned = np.asarray(flags, dtype=bool), np.asarray(poisoned, dtype=bool)
    if flags.shape != poisoned.shape or flags.ndim != 1:
        raise ValueError(f"flags and poisoned: expected equal shapes (N,), got "
                         f"{flags.shape} and {poisoned.shape}.")
    if poisoned.all() or not poisoned.any():
        raise ValueError("poisoned: expected both poisoned and clean samples.")
    hits = int((flags & poisoned).sum())
    return {"tpr": hits / int(poisoned.sum()),
            "fpr": int((flags & ~poisoned).sum()) / int((~poisoned).sum()),
            "precision": hits / int(flags.sum()) if flags.any() else 0.0,
            "flagged": int(flags.sum())}
