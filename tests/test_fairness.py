"""helpers.fairness: the metrics against fairlearn and sklearn (and known answers), the
result row, and fairlearn's reduction as a baseline. The game is in test_debiasing.py."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (demographic_parity_ratio, equal_opportunity_difference,
                               equalized_odds_difference)
from sklearn.metrics import roc_auc_score

from helpers import data, fairness


@pytest.mark.parametrize("seed", range(5))
def test_p_percent_rule_is_100_times_fairlearns_ratio(seed):
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, 500)
    y_pred = (rng.random(500) < np.where(z == 1, 0.4, rng.uniform(0.05, 0.6))).astype(int)
    expected = 100 * demographic_parity_ratio(np.zeros(500), y_pred, sensitive_features=z)
    got = fairness.p_percent_rule(y_pred, z)
    assert got == pytest.approx(expected), f"expected 100 × fairlearn's {expected}, got {got}"


def test_p_percent_rule_on_known_rates():
    z = np.array([0] * 10 + [1] * 10)
    y_pred = np.array([1] * 2 + [0] * 8 + [1] * 5 + [0] * 5)      # 20 % vs 50 %
    for groups in (z, 1 - z):                                          # symmetric
        got = fairness.p_percent_rule(y_pred, groups)
        assert got == pytest.approx(40.0), f"expected 100 × 0.2 / 0.5 = 40, got {got}"
    rates = fairness.selection_rates(y_pred, z).tolist()
    assert rates == [0.2, 0.5], f"expected selection rates [0.2, 0.5], got {rates}"


def test_p_percent_rule_warns_and_defines_empty_groups():
    z = np.array([0, 0, 1, 1])
    with pytest.warns(RuntimeWarning, match=r"no positive prediction in group\(s\) \[0\]"):
        got = fairness.p_percent_rule(np.array([0, 0, 1, 0]), z)
    assert got == 0.0, f"expected 0 when one group is never selected, got {got}"
    with pytest.warns(RuntimeWarning, match="returning 100.0"):
        got = fairness.p_percent_rule(np.zeros(4, int), z)
    assert got == 100.0, f"expected 100 when neither group is selected, got {got}"


@pytest.mark.parametrize("y_pred, z, message", [
    ([0, 2, 1], [0, 1, 1], "y_pred"), ([0, 1, 1], [0, 1], "length"),
    ([0, 1, 1], [1, 1, 1], "both groups"), ([], [], "empty")])
def test_p_percent_rule_rejects_bad_inputs(y_pred, z, message):
    with pytest.raises(ValueError, match=message):
        fairness.p_percent_rule(np.array(y_pred), np.array(z))


@pytest.mark.parametrize("seed", range(3))
def test_error_rate_criteria_agree_with_fairlearn(seed):
    rng = np.random.default_rng(seed)
    z, y = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    y_pred = (rng.random(400) < 0.2 + 0.3 * y + 0.2 * z).astype(int)
    for ours, theirs in ((fairness.equalized_odds_difference, equalized_odds_difference),
                         (fairness.equal_opportunity_difference,
                          equal_opportunity_difference)):
        got, expected = ours(y, y_pred, z), theirs(y, y_pred, sensitive_features=z)
        assert got == pytest.approx(expected), (
            f"{ours.__name__}: expected fairlearn's {expected}, got {got}")


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * y, 1)                   # many ties
    got, expected = fairness.roc_auc(y, scores), roc_auc_score(y, scores)
    assert got == pytest.approx(expected), f"expected sklearn's {expected}, got {got}"


def test_fairness_report_has_a_column_per_metric_and_attribute():
    y = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.2, 0.4, 0.6, 0.8, 0.1])
    Z = pd.DataFrame({"race": [1, 1, 0, 0, 1, 0], "sex": [1, 0, 1, 0, 1, 0]})
    row = fairness.fairness_report(y, scores, Z)
    assert row["accuracy"] == pytest.approx(100 * 4 / 6), (
        f"expected accuracy 66.7 %, got {row['accuracy']}")
    # decisions 1,0,0,1,1,0: men (sex=1) selected 2 of 3, women 1 of 3
    assert row["p% sex"] == pytest.approx(50.0), f"expected p% sex 50, got {row['p% sex']}"
    expected = {"accuracy", "ROC AUC", "p% race", "eq. odds race", "eq. opp. race",
                "p% sex", "eq. odds sex", "eq. opp. sex"}
    assert set(row) == expected, f"expected columns {sorted(expected)}, got {sorted(row)}"


def test_exponentiated_gradient_is_fairer_than_plain_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    adult = data.load("adult", source="standin", size=4000, seed=0, verbose=False)
    plain = (LogisticRegression(max_iter=500).fit(adult.X_train, adult.y_train)
             .predict(adult.X_test))
    reduction = fairness.exponentiated_gradient(adult.X_train, adult.y_train, adult.Z_train,
                                                adult.X_test, seed=0)
    scores = reduction.scores
    assert scores.shape == (len(adult.y_test),) and ((0 <= scores) & (scores <= 1)).all(), (
        f"expected {len(adult.y_test)} probabilities, got shape {scores.shape}, "
        f"range [{scores.min()}, {scores.max()}]")
    # sex: both groups are large, so the test-set p%-rule is a stable number
    before = fairness.p_percent_rule(plain, adult.Z_test["sex"])
    after = fairness.p_percent_rule(reduction.y_pred, adult.Z_test["sex"])
    assert before < 80 and after > before + 10, (
        f"expected plain < 80 and the reduction 10+ points fairer: {before:.1f} → {after:.1f}")
