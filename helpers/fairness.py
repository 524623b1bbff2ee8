"""Chapter 3 (fairness): group metrics, the result table, baselines and figures.

Predictions ``y_pred`` are 0/1 arrays (N,); ``scores`` are predicted P(y = 1) in [0, 1];
a sensitive attribute ``z`` is a 0/1 array (N,) (Adult: race 1 = White, sex 1 = Male).
The adversarial debiasing game is in :mod:`helpers.debiasing`, the chapter's figures in
:mod:`helpers.fairness_plots`.

- :func:`p_percent_rule`: min(P(ŷ=1|z=1)/P(ŷ=1|z=0), P(ŷ=1|z=0)/P(ŷ=1|z=1)) × 100, which
  is 100 × fairlearn's ``demographic_parity_ratio``; 80 is the four-fifths rule.
- :func:`equalized_odds_difference`: the larger of the gaps in true- and false-positive
  rate between the groups; :func:`equal_opportunity_difference`: the true-positive gap.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import rankdata

FOUR_FIFTHS = 80.0


def _binary(values, name: str) -> np.ndarray:
    array = np.asarray(values).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name} is empty.")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name}: expected only 0/1 values, got {np.unique(array)[:5]}.")
    return array.astype(int)


def _pair(y_pred, z) -> tuple[np.ndarray, np.ndarray]:
    y_pred, z = _binary(y_pred, "y_pred"), _binary(z, "z")
    if len(y_pred) != len(z):
        raise ValueError(f"y_pred and z differ in length ({len(y_pred)} vs {len(z)}).")
    if len(np.unique(z)) < 2:
        raise ValueError("z: both groups (0 and 1) must occur.")
    return y_pred, z


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve in [0, 1] (the Mann-Whitney statistic, ties counted half).

    Same value as ``sklearn.metrics.roc_auc_score`` for binary labels, without its input
    validation, which costs more than the training step when recorded every iteration.
    """
    y_true = _binary(y_true, "y_true").astype(bool)
    positives, negatives = y_true.sum(), (~y_true).sum()
    if positives == 0 or negatives == 0:
        raise ValueError("y_true: ROC AUC needs both classes.")
    ranks = rankdata(np.asarray(scores, dtype=float).reshape(-1))
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def selection_rates(y_pred, z) -> pd.Series:
    """P(ŷ = 1 | z = g) for each group g present in ``z`` (any hashable labels), a Series."""
    y_pred, z = _binary(y_pred, "y_pred"), np.asarray(z).reshape(-1)
    if len(y_pred) != len(z):
        raise ValueError(f"y_pred and z differ in length ({len(y_pred)} vs {len(z)}).")
    return pd.Series(y_pred, name="selection rate").groupby(z).mean()


def p_percent_rule(y_pred, z) -> float:
    """The p%-rule of predictions ``y_pred`` for a binary attribute ``z``, in [0, 100].

    When a group has no positive prediction the ratio is 0/x or 0/0: we warn and return
    0 if only one group is never selected (maximal disparity) and 100 if neither is
    (a constant classifier treats both groups alike).
    """
    y_pred, z = _pair(y_pred, z)
    rates = np.array([y_pred[z == 0].mean(), y_pred[z == 1].mean()])
    if (rates == 0).any():
        value = 100.0 if (rates == 0).all() else 0.0
        warnings.warn(f"p_percent_rule: no positive prediction in group(s) "
                      f"{np.flatnonzero(rates == 0).tolist()}; returning {value}.",
                      RuntimeWarning, stacklevel=2)
        return value
    return float(100 * min(rates[1] / rates[0], rates[0] / rates[1]))


def _rate_gaps(y_true, y_pred, z) -> tuple[float, float]:
    """|TPR(z=1) − TPR(z=0)| and |FPR(z=1) − FPR(z=0)|."""
    y_pred, z = _pair(y_pred, z)
    y_true = _binary(y_true, "y_true")
    if len(y_true) != len(z):
        raise ValueError(f"y_true and z differ in length ({len(y_true)} vs {len(z)}).")
    gaps = []
    for label in (1, 0):
        rates = [y_pred[(z == g) & (y_true == label)].mean() if ((z == g) & (y_true == label)).any()
                 else np.nan for g in (0, 1)]
        gaps.append(float(abs(rates[1] - rates[0])))
    return gaps[0], gaps[1]


def equal_opportunity_difference(y_true, y_pred, z) -> float:
    """|P(ŷ=1 | y=1, z=1) − P(ŷ=1 | y=1, z=0)| in [0, 1]: the true-positive-rate gap."""
    return _rate_gaps(y_true, y_pred, z)[0]


def equalized_odds_difference(y_true, y_pred, z) -> float:
    """max(TPR gap, FPR gap) in [0, 1]; 0 means equal error rates in both groups."""
    return max(_rate_gaps(y_true, y_pred, z))


def fairness_report(y_true, scores, Z: pd.DataFrame, y_pred=None) -> dict:
    """One row of the result table for predicted probabilities ``scores`` (N,).

    ``y_pred`` defaults to ``scores > 0.5``. Returns accuracy and ROC AUC (%), and for each
    column of ``Z``: ``p% <col>`` (0-100), ``eq. odds <col>`` and ``eq. opp. <col>``
    (differences in percentage points).
    """
    y_true, scores = _binary(y_true, "y_true"), np.asarray(scores, dtype=float).reshape(-1)
    if len(scores) != len(y_true) or len(Z) != len(y_true):
        raise ValueError("y_true, scores and Z must have the same length.")
    y_pred = (scores > 0.5).astype(int) if y_pred is None else _binary(y_pred, "y_pred")
    row = {"accuracy": 100 * float((y_pred == y_true).mean()),
           "ROC AUC": 100 * roc_auc(y_true, scores)}
    for column in Z.columns:
        z = np.asarray(Z[column])
        row[f"p% {column}"] = p_percent_rule(y_pred, z)
        row[f"eq. odds {column}"] = 100 * equalized_odds_difference(y_true, y_pred, z)
        row[f"eq. opp. {column}"] = 100 * equal_opportunity_difference(y_true, y_pred, z)
    return row


class RandomizedPredictions(NamedTuple):
    """A randomized classifier's P(ŷ = 1) (N,) in [0, 1] and its seeded 0/1 draws (N,)."""

    scores: np.ndarray
    y_pred: np.ndarray


def exponentiated_gradient(X_train, y_train, Z_train, X_test,
                           seed: int = 0) -> RandomizedPredictions:
    """Fairlearn's reduction: logistic regression under a demographic-parity constraint.

    The constraint is on the joint groups of all columns of ``Z_train`` (race × sex), which
    bounds each attribute's disparity too. Returns the randomized classifier's
    predictions on ``X_test``.
    """
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression

    reduction = ExponentiatedGradient(LogisticRegression(max_iter=500),
                                      DemographicParity(), eps=0.01)
    groups = pd.DataFrame(Z_train).astype(str).agg("-".join, axis=1)
    with warnings.catch_warnings():   # fairlearn 0.15 triggers pandas deprecation notices
        warnings.filterwarnings("ignore", module="fairlearn")
        reduction.fit(np.asarray(X_train), np.asarray(y_train), sensitive_features=groups)
        # fairlearn has no public predict_proba: _pmf_predict is the mixture's P(ŷ)
        scores = reduction._pmf_predict(np.asarray(X_test))[:, 1]
        return RandomizedPredictions(scores, reduction.predict(np.asarray(X_test),
                                                               random_state=seed))
