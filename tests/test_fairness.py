"""Fairness metrics against fairlearn, the debiasing game's losses and updates, baselines."""

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.metrics import (demographic_parity_ratio, equal_opportunity_difference,
                               equalized_odds_difference)
from sklearn.metrics import roc_auc_score

from helpers import debiasing, fairness
from helpers.data.adult import load_adult


@pytest.mark.parametrize("seed", range(5))
def test_p_percent_rule_is_100_times_fairlearns_ratio(seed):
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, 500)
    y_pred = (rng.random(500) < np.where(z == 1, 0.4, rng.uniform(0.05, 0.6))).astype(int)
    expected = 100 * demographic_parity_ratio(np.zeros(500), y_pred, sensitive_features=z)
    assert fairness.p_percent_rule(y_pred, z) == pytest.approx(expected)


def test_p_percent_rule_on_known_rates():
    z = np.array([0] * 10 + [1] * 10)
    y_pred = np.array([1] * 2 + [0] * 8 + [1] * 5 + [0] * 5)      # 20 % vs 50 %
    assert fairness.p_percent_rule(y_pred, z) == pytest.approx(40.0)
    assert fairness.p_percent_rule(y_pred, 1 - z) == pytest.approx(40.0)  # symmetric
    assert fairness.selection_rates(y_pred, z).tolist() == [0.2, 0.5]


def test_p_percent_rule_warns_and_defines_empty_groups():
    z = np.array([0, 0, 1, 1])
    with pytest.warns(RuntimeWarning, match=r"no positive prediction in group\(s\) \[0\]"):
        assert fairness.p_percent_rule(np.array([0, 0, 1, 0]), z) == 0.0
    with pytest.warns(RuntimeWarning, match="returning 100.0"):
        assert fairness.p_percent_rule(np.zeros(4, int), z) == 100.0


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
    assert fairness.equalized_odds_difference(y, y_pred, z) == pytest.approx(
        equalized_odds_difference(y, y_pred, sensitive_features=z))
    assert fairness.equal_opportunity_difference(y, y_pred, z) == pytest.approx(
        equal_opportunity_difference(y, y_pred, sensitive_features=z))


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) + 0.3 * y, 1)                   # many ties
    assert fairness.roc_auc(y, scores) == pytest.approx(roc_auc_score(y, scores))


def test_fairness_report_has_a_column_per_metric_and_attribute():
    y = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.2, 0.4, 0.6, 0.8, 0.1])
    Z = pd.DataFrame({"race": [1, 1, 0, 0, 1, 0], "sex": [1, 0, 1, 0, 1, 0]})
    row = fairness.fairness_report(y, scores, Z)
    assert row["accuracy"] == pytest.approx(100 * 4 / 6)
    # decisions 1,0,0,1,1,0: men (sex=1) selected 2 of 3, women 1 of 3
    assert row["p% sex"] == pytest.approx(50.0)
    assert set(row) == {"accuracy", "ROC AUC", "p% race", "eq. odds race", "eq. opp. race",
                        "p% sex", "eq. odds sex", "eq. opp. sex"}


def test_projection_is_the_frobenius_projection_on_a_2x3_tensor():
    gradient = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    direction = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    # <G, H>_F = 1 + 3 + 5 = 9 and <H, H>_F = 3, so the projection is 3 H
    expected = torch.tensor([[3.0, 0.0, 3.0], [0.0, 3.0, 0.0]])
    assert torch.allclose(debiasing.project(gradient, direction), expected)
    # a row-wise projection (the classic bug) would give a different answer
    rowwise = (gradient * direction).sum(1, keepdim=True) / (direction ** 2).sum(1, keepdim=True)
    assert not torch.allclose(rowwise * direction, expected)
    residual = gradient - debiasing.project(gradient, direction)
    assert (residual * direction).sum().abs() < 1e-6               # orthogonal to H
    assert torch.equal(debiasing.project(gradient, torch.zeros(2, 3)), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same shape"):
        debiasing.project(gradient, direction.T)


def _tiny_game(seed=0):
    torch.manual_seed(seed)
    classifier, adversary = debiasing.mlp(3, 1, hidden=4, layers=1), debiasing.make_adversary(2)
    x = torch.randn(8, 3)
    y = (torch.rand(8) < 0.5).float()
    Z = (torch.rand(8, 2) < 0.5).float()
    return classifier, adversary, x, y, Z


def test_combined_loss_is_l_y_minus_weighted_l_z():
    _, _, _, y, Z = _tiny_game()
    y_logits, z_logits = torch.randn(8), torch.randn(8, 2)
    lambdas = torch.tensor([3.0, 0.5])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(y_logits, y) - 3.0 * bce(z_logits[:, 0], Z[:, 0]) - 0.5 * bce(z_logits[:, 1], Z[:, 1])
    assert torch.isclose(debiasing.combined_loss(y_logits, y, z_logits, Z, lambdas), expected)


def test_balanced_adversary_loss_averages_the_two_groups():
    z_logits = torch.tensor([[0.5], [-1.0], [2.0], [0.0]])
    Z = torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    losses = torch.nn.functional.binary_cross_entropy_with_logits(z_logits, Z, reduction="none")
    expected = (losses[0] + losses[1:].mean()) / 2
    assert torch.allclose(debiasing.adversary_loss(z_logits, Z, balanced=True), expected)
    assert torch.allclose(debiasing.adversary_loss(z_logits, Z), losses.mean(0))


@pytest.mark.parametrize("projection", [False, True])
def test_classifier_step_moves_along_the_games_gradient(projection):
    classifier, adversary, x, y, Z = _tiny_game()
    lambdas = torch.tensor([2.0, 1.0])
    before = [p.detach().clone() for p in classifier.parameters()]
    adversary_before = [p.detach().clone() for p in adversary.parameters()]
    # the expected direction, by hand: gradients of L_y and of the weighted adversary loss
    classifier.train()
    logits = classifier(x).reshape(-1)
    loss_y = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
    loss_a = (lambdas * debiasing.adversary_loss(adversary(torch.sigmoid(logits)[:, None]), Z)).sum()
    g_y = torch.autograd.grad(loss_y, list(classifier.parameters()), retain_graph=True)
    g_a = torch.autograd.grad(loss_a, list(classifier.parameters()))
    optimizer = torch.optim.SGD(classifier.parameters(), lr=1.0)
    debiasing.classifier_step(classifier, adversary, x, y, Z, lambdas, optimizer, projection)
    for old, new, gy, ga in zip(before, classifier.parameters(), g_y, g_a):
        step = gy - ga
        if projection:
            step = step - (gy * ga).sum() / (ga * ga).sum() * ga
        assert torch.allclose(old - new.detach(), step, atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(adversary_before, adversary.parameters()))


@pytest.fixture(scope="module")
def small_adult():
    data = load_adult(source="standin", size=1200, seed=0, verbose=False)
    return (data.X_train, data.y_train, data.Z_train), (data.X_test, data.y_test, data.Z_test)


def test_debias_records_every_iteration_and_is_reproducible(small_adult):
    train, test = small_adult
    lambdas = {"race": 10.0, "sex": 5.0}
    histories = []
    for _ in range(2):
        classifier, adversary = debiasing.pretrain(*train, epochs=2, adversary_epochs=1, seed=3)
        histories.append(debiasing.debias(classifier, adversary, train, test, lambdas,
                                          iterations=4, seed=3, progress=False))
    history = histories[0]
    assert history == histories[1]
    assert history["iteration"] == [0, 1, 2, 3, 4]
    for key in ("accuracy", "roc_auc", "p_rule_race", "p_rule_sex", "adversary_auc_race",
                "adversary_auc_sex"):
        assert len(history[key]) == 5 and all(0 <= v <= 100 for v in history[key]), key
    assert not classifier.training and torch.get_num_threads() >= 1


def test_debias_checks_its_inputs(small_adult):
    train, test = small_adult
    classifier, adversary = debiasing.pretrain(*train, epochs=1, adversary_epochs=1)
    with pytest.raises(ValueError, match="lambdas"):
        debiasing.debias(classifier, adversary, train, test, {"race": -1}, iterations=1)
    with pytest.raises(ValueError, match="columns"):
        debiasing.debias(classifier, adversary, train, test, {"age": 1}, iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        debiasing.debias(classifier, adversary, train, test, {"sex": 1}, iterations=-1)


def test_pretrain_restores_the_thread_count(small_adult):
    threads = torch.get_num_threads()
    debiasing.pretrain(*small_adult[0], epochs=1, adversary_epochs=1)
    assert torch.get_num_threads() == threads


def test_exponentiated_gradient_is_fairer_than_plain_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    data = load_adult(source="standin", size=4000, seed=0, verbose=False)
    plain = LogisticRegression(max_iter=500).fit(data.X_train, data.y_train).predict(data.X_test)
    scores, y_pred = fairness.exponentiated_gradient(data.X_train, data.y_train, data.Z_train,
                                                     data.X_test, seed=0)
    assert scores.shape == (len(data.y_test),) and ((0 <= scores) & (scores <= 1)).all()
    # sex: both groups are large, so the test-set p%-rule is a stable number
    before = fairness.p_percent_rule(plain, data.Z_test["sex"])
    after = fairness.p_percent_rule(y_pred, data.Z_test["sex"])
    assert before < 80 and after > before + 10, (before, after)
