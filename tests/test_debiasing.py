"""helpers.debiasing: the game's losses and updates (known answers on tiny tensors), and
the pretraining and game on a small stand-in census (reproducible, checked inputs)."""

import copy

import pytest
import torch

from helpers import data, debiasing

bce = torch.nn.functional.binary_cross_entropy_with_logits


def test_projection_is_the_frobenius_projection_on_a_2x3_tensor():
    gradient = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    direction = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    # <G, H>_F = 1 + 3 + 5 = 9 and <H, H>_F = 3, so the projection is 3 H
    expected = torch.tensor([[3.0, 0.0, 3.0], [0.0, 3.0, 0.0]])
    got = debiasing.project(gradient, direction)
    assert torch.allclose(got, expected), f"expected {expected}, got {got}"
    # a row-wise projection (the classic bug) would give a different answer
    rowwise = (gradient * direction).sum(1, keepdim=True) / (direction ** 2).sum(1, keepdim=True)
    assert not torch.allclose(rowwise * direction, expected), "the test must tell the bug apart"
    residual = (gradient - got) * direction
    assert residual.sum().abs() < 1e-6, f"expected a residual orthogonal to H, got {residual.sum()}"
    zero = debiasing.project(gradient, torch.zeros(2, 3))
    assert torch.equal(zero, torch.zeros(2, 3)), f"expected 0 for H = 0, got {zero}"
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
    expected = (bce(y_logits, y) - 3.0 * bce(z_logits[:, 0], Z[:, 0])
                - 0.5 * bce(z_logits[:, 1], Z[:, 1]))
    got = debiasing.combined_loss(y_logits, y, z_logits, Z, lambdas)
    assert torch.isclose(got, expected), f"expected L_y − Σ λ_k L_Z_k = {expected}, got {got}"


def test_balanced_adversary_loss_averages_the_two_groups():
    z_logits = torch.tensor([[0.5], [-1.0], [2.0], [0.0]])
    Z = torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    losses = bce(z_logits, Z, reduction="none")
    expected = (losses[0] + losses[1:].mean()) / 2
    balanced = debiasing.adversary_loss(z_logits, Z, balanced=True)
    assert torch.allclose(balanced, expected), f"expected {expected}, got {balanced}"
    plain = debiasing.adversary_loss(z_logits, Z)
    assert torch.allclose(plain, losses.mean(0)), f"expected {losses.mean(0)}, got {plain}"


@pytest.mark.parametrize("projection", [False, True])
def test_classifier_step_moves_along_the_games_gradient(projection):
    classifier, adversary, x, y, Z = _tiny_game()
    lambdas = torch.tensor([2.0, 1.0])
    before = [p.detach().clone() for p in classifier.parameters()]
    adversary_before = [p.detach().clone() for p in adversary.parameters()]
    # the expected direction, by hand: gradients of L_y and of the weighted adversary loss
    classifier.train()
    logits = classifier(x).reshape(-1)
    loss_y = bce(logits, y)
    loss_a = (lambdas * debiasing.adversary_loss(adversary(torch.sigmoid(logits)[:, None]), Z)).sum()
    g_y = torch.autograd.grad(loss_y, list(classifier.parameters()), retain_graph=True)
    g_a = torch.autograd.grad(loss_a, list(classifier.parameters()))
    optimizer = torch.optim.SGD(classifier.parameters(), lr=1.0)
    debiasing.classifier_step(classifier, adversary, x, y, Z, lambdas, optimizer, projection)
    for old, new, gy, ga in zip(before, classifier.parameters(), g_y, g_a):
        step = gy - ga
        if projection:
            step = step - (gy * ga).sum() / (ga * ga).sum() * ga
        moved = old - new.detach()
        assert torch.allclose(moved, step, atol=1e-6), f"expected step {step}, got {moved}"
    assert all(torch.equal(a, b) for a, b in zip(adversary_before, adversary.parameters())), (
        "the classifier's step must leave the adversary unchanged")


@pytest.fixture(scope="module")
def small_adult():
    adult = data.load("adult", source="standin", size=1200, seed=0, verbose=False)
    return ((adult.X_train, adult.y_train, adult.Z_train),
            (adult.X_test, adult.y_test, adult.Z_test))


def test_pretrain_returns_the_named_pair_in_eval_mode(small_adult):
    threads = torch.get_num_threads()
    players = debiasing.pretrain(*small_adult[0], epochs=1, adversary_epochs=1)
    assert isinstance(players, debiasing.Players), f"expected Players, got {type(players)}"
    assert not players.classifier.training and not players.adversary.training, (
        "expected both models in eval mode")
    assert torch.get_num_threads() == threads, (
        f"expected the thread count restored to {threads}, got {torch.get_num_threads()}")


def test_debias_records_every_iteration_and_is_reproducible(small_adult):
    train, test = small_adult
    lambdas = {"race": 10.0, "sex": 5.0}
    histories = []
    for _ in range(2):
        classifier, adversary = debiasing.pretrain(*train, epochs=2, adversary_epochs=1, seed=3)
        histories.append(debiasing.debias(classifier, adversary, train, test, lambdas,
                                          iterations=4, seed=3, progress=False))
    history = histories[0]
    assert history == histories[1], "two seeded games should give the same history"
    assert history["iteration"] == [0, 1, 2, 3, 4], f"got {history['iteration']}"
    for key in ("accuracy", "roc_auc", "p_rule_race", "p_rule_sex", "adversary_auc_race",
                "adversary_auc_sex"):
        assert len(history[key]) == 5 and all(0 <= v <= 100 for v in history[key]), (
            f"{key}: expected 5 percentages, got {history[key]}")
    assert not classifier.training, "the classifier should end in eval mode"



def test_a_game_does_not_depend_on_what_ran_before_it(small_adult):
    # dropout draws from torch's global generator; a sweep's games must not see the
    # state the previous game left there
    train, test = small_adult
    players = debiasing.pretrain(*train, epochs=1, adversary_epochs=1, seed=1)
    histories = []
    for draws in (0, 1000):
        torch.rand(draws)                              # what an earlier cell consumed
        classifier, adversary = (copy.deepcopy(m) for m in players)
        histories.append(debiasing.debias(classifier, adversary, train, test,
                                          {"race": 10.0, "sex": 5.0}, iterations=3,
                                          seed=1, progress=False))
    assert histories[0] == histories[1], (
        f"expected the same game after other random draws: {histories[0]['accuracy']} vs "
        f"{histories[1]['accuracy']}")

def test_debias_checks_its_inputs(small_adult):
    train, test = small_adult
    classifier, adversary = debiasing.pretrain(*train, epochs=1, adversary_epochs=1)
    with pytest.raises(ValueError, match="lambdas"):
        debiasing.debias(classifier, adversary, train, test, {"race": -1}, iterations=1)
    with pytest.raises(ValueError, match="columns"):
        debiasing.debias(classifier, adversary, train, test, {"age": 1}, iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        debiasing.debias(classifier, adversary, train, test, {"sex": 1}, iterations=-1)
    with pytest.raises(ValueError, match="epochs"):
        debiasing.pretrain(*train, epochs=0)


def test_lambda_sweep_names_its_table_and_games(small_adult):
    train, test = small_adult
    X, y, Z = train
    classifier, adversary = debiasing.pretrain(X, y, Z[["sex"]], epochs=1, adversary_epochs=1)
    sweep = debiasing.lambda_sweep(classifier, adversary, train, test, {"sex": 5.0},
                                   [0, 1], iterations=2, progress=False)
    assert isinstance(sweep, debiasing.Sweep), f"expected a Sweep, got {type(sweep)}"
    assert list(sweep.table.index) == [0, 1], f"expected rows 0 and 1, got {sweep.table.index}"
    assert set(sweep.table.columns) == {"accuracy", "ROC AUC", "p% sex"}, (
        f"got columns {list(sweep.table.columns)}")
    game = sweep.runs[1]
    assert isinstance(game, debiasing.Debiased), f"expected Debiased, got {type(game)}"
    assert sweep.table.loc[1, "accuracy"] == game.history["accuracy"][-1], (
        "the table's row should be the game's final scores")
    assert game.classifier is not classifier, "each game should play on a copy"
