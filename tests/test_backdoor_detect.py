"""helpers.backdoor_detect: spectral signatures, activation clustering, detection rates."""

import numpy as np
import pytest

from helpers import backdoor_detect


def _planted(seed=0):
    """Two classes of 200 isotropic latents; 20 outliers planted in class 0 along one axis."""
    rng = np.random.default_rng(seed)
    latents = rng.normal(size=(420, 16))
    labels = np.array([0] * 200 + [1] * 200 + [0] * 20)
    latents[400:, 3] += 8.0
    poisoned = np.arange(420) >= 400
    return latents, labels, poisoned


def test_spectral_signatures_flag_planted_outliers():
    latents, labels, poisoned = _planted()
    scores = backdoor_detect.spectral_scores(latents[labels == 0])
    assert set(np.argsort(-scores)[:20]) == set(range(200, 220)), (
        "expected the 20 planted outliers to score highest")
    detection = backdoor_detect.spectral_signatures(latents, labels, epsilon=20 / 220)
    flags = detection.flags
    assert np.allclose(detection.scores[labels == 0], scores), (
        "expected the per-class scores to be the class's spectral scores")
    assert flags[poisoned].all(), (
        "expected every planted poison flagged")
    # round(1.5·ε·n) per class: 30 of 220 in class 0, 27 of 200 in class 1
    assert flags[labels == 0].sum() == 30 and flags[labels == 1].sum() == 27, (
        f"expected 30 and 27 flags, got {flags[labels == 0].sum()} and "
        f"{flags[labels == 1].sum()}")
    rates = backdoor_detect.detection_rates(flags, poisoned)
    assert rates["tpr"] == 1.0 and rates["fpr"] == pytest.approx((10 + 27) / 400), (
        f"expected TPR 1 and FPR 37/400, got {rates}")
    with pytest.raises(ValueError, match="epsilon"):
        backdoor_detect.spectral_signatures(latents, labels, epsilon=0)


def test_activation_clustering_flags_exactly_the_planted_cluster():
    latents, labels, poisoned = _planted()
    flags, distances = backdoor_detect.activation_clustering(latents, labels, components=5)
    with pytest.raises(ValueError, match="components"):
        backdoor_detect.activation_clustering(latents, labels, components=0)
    assert np.array_equal(flags, poisoned), (
        "expected exactly the planted cluster flagged")
    assert distances[poisoned].min() > np.median(distances[~poisoned]), (
        "expected the poisons far from the larger cluster's centre")
    with pytest.raises(ValueError, match="labels"):
        backdoor_detect.activation_clustering(latents, labels[:-1])


def test_detection_rates_known_answer():
    flags = np.array([True, True, False, False, True, False])
    poisoned = np.array([True, False, True, False, False, False])
    rates = backdoor_detect.detection_rates(flags, poisoned)
    assert rates == {"tpr": 0.5, "fpr": 0.5, "precision": pytest.approx(1 / 3), "flagged": 3}, (
        f"expected tpr 1/2, fpr 1/2, precision 1/3, 3 flagged, got {rates}")
    with pytest.raises(ValueError, match="poisoned"):
        backdoor_detect.detection_rates(flags, np.zeros(6, dtype=bool))
