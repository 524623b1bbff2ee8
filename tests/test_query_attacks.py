"""helpers.query_attacks: the Square attack against torchattacks' ``Square`` on a fixed
seed (identical images and query counts when fed the same scores), its invariants
(‖δ‖∞ ≤ ε, [0, 1], queries ≤ budget, the curve non-decreasing), the window schedule and
the margin."""

import math

import pytest
import torch
import torchattacks
from torch import nn

from helpers import models
from helpers.query_attacks import margins, square_attack, square_size, success_curve
from helpers.stealing import QueryAPI

EPS = 0.15


@pytest.fixture(scope="module")
def victim():
    torch.manual_seed(0)
    model = models.build_model("small_cnn", 10, 4)
    # a few steps on random data so the logits are not all alike
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = torch.rand(64, 3, 32, 32), torch.randint(0, 10, (64,))
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def batch(victim):
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = victim(images).argmax(1)      # all correctly "classified"
    labels[:2] = (labels[:2] + 1) % 10         # two misclassified from the start
    return images, labels


class LogScores(nn.Module):
    """What torchattacks sees: the log of the API's probabilities, as its 'logits'."""

    def __init__(self, api):
        super().__init__()
        self.api = api
        self.dummy = nn.Parameter(torch.zeros(1))  # torchattacks reads the device from it

    def forward(self, x):
        return torch.log(self.api.scores(x).clamp_min(1e-30))


def test_square_equals_torchattacks_on_the_same_scores_and_seed(victim, batch):
    images, labels = batch
    budget = 60
    ours = square_attack(QueryAPI(victim), images, labels, EPS, max_queries=budget, seed=3)
    reference = torchattacks.Square(LogScores(QueryAPI(victim)), eps=EPS,
                                    n_queries=budget - 2, p_init=0.8, seed=3)
    theirs = reference(images, labels)
    with torch.no_grad():
        fooled = LogScores(QueryAPI(victim))(theirs).argmax(1) != labels
    assert torch.equal(ours.fooled, fooled), f"expected fooled {fooled}, got {ours.fooled}"
    gap = (ours.adversarial[fooled] - theirs[fooled]).abs().max().item()
    assert gap < 1e-6, f"expected torchattacks' fooling images, max difference {gap:.2e}"
    # not fooled: torchattacks hands back the clean image, we the best attempt
    assert torch.equal(theirs[~fooled], images[~fooled]), "torchattacks' convention changed"


def test_square_equals_torchattacks_when_some_images_survive(victim, batch):
    images, labels = batch
    ours = square_attack(QueryAPI(victim), images, labels, 0.03, max_queries=12, seed=5)
    theirs = torchattacks.Square(LogScores(QueryAPI(victim)), eps=0.03, n_queries=10,
                                 seed=5)(images, labels)
    assert (~ours.fooled).any() and ours.fooled[2:].any(), (
        f"expected a mix of fooled and surviving images, got {ours.fooled}")
    kept = ours.fooled
    gap = (ours.adversarial[kept] - theirs[kept]).abs().max().item()
    assert gap < 1e-6, f"expected torchattacks' fooling images, max difference {gap:.2e}"
    assert torch.equal(theirs[~kept], images[~kept]), "expected clean images back"


def test_square_invariants(victim, batch):
    images, labels = batch
    api = QueryAPI(victim)
    result = square_attack(api, images, labels, EPS, max_queries=40, seed=0)
    delta = (result.adversarial - images).abs().max().item()
    assert delta <= EPS + 1e-6, f"expected ‖δ‖∞ ≤ {EPS}, got {delta}"
    low, high = result.adversarial.min().item(), result.adversarial.max().item()
    assert 0 <= low and high <= 1, f"expected pixels in [0, 1], got [{low}, {high}]"
    assert result.queries.max().item() <= 40, f"expected ≤ 40 queries, got {result.queries}"
    assert api.used == result.queries.sum().item(), (
        f"expected the API's count {api.used} to equal the queries reported "
        f"{result.queries.sum().item()}")
    assert result.fooled[:2].all() and (result.queries[:2] == 1).all(), (
        "expected the misclassified images to count as fooled after 1 query")
    with torch.no_grad():
        wrong = victim(result.adversarial).argmax(1) != labels
    assert torch.equal(wrong, result.fooled), "expected `fooled` = wrong label at the end"


def test_success_rises_with_the_budget_on_a_fixed_seed(victim, batch):
    images, labels = batch
    result = square_attack(QueryAPI(victim), images, labels, EPS, max_queries=100, seed=0)
    curve = success_curve(result, [1, 5, 20, 100])
    assert all(a <= b for a, b in zip(curve, curve[1:])), f"expected non-decreasing, {curve}"
    assert curve[0] == pytest.approx(2 / 12), f"expected 2 of 12 fooled at 1 query: {curve}"
    separate = [square_attack(QueryAPI(victim), images, labels, EPS, max_queries=b,
                              seed=0).fooled.double().mean().item() for b in (10, 100)]
    assert separate[0] <= separate[1], f"expected more success with more queries: {separate}"


def test_the_budget_of_the_api_bounds_the_attack(victim, batch):
    images, labels = batch
    api = QueryAPI(victim, budget=len(images) * 5 - 1)
    from helpers.stealing import BudgetExceeded

    with pytest.raises(BudgetExceeded):
        square_attack(api, images, labels, EPS, max_queries=200, seed=0)
    assert api.used <= api.budget, f"expected at most {api.budget} queries, got {api.used}"


def test_square_size_schedule():
    area = 32 * 32
    assert square_size(0.8, 0, 1000, area) == round(math.sqrt(0.8 * area)), "start"
    assert square_size(0.8, 2, 1000, area) == round(math.sqrt(0.4 * area)), "after 10/10000"
    assert square_size(0.8, 999, 1000, area) == max(round(math.sqrt(0.8 / 512 * area)), 1)
    sizes = [square_size(0.8, i, 500, area) for i in range(500)]
    assert all(a >= b for a, b in zip(sizes, sizes[1:])), "expected shrinking windows"


def test_margins_known_values():
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    got = margins(scores, torch.tensor([0, 0]))
    expected = torch.tensor([math.log(0.7 / 0.2), math.log(0.2 / 0.5)])
    assert torch.allclose(got, expected), f"expected {expected}, got {got}"


def test_square_rejects_bad_arguments(victim, batch):
    images, labels = batch
    with pytest.raises(ValueError, match="eps"):
        square_attack(QueryAPI(victim), images, labels, 0.0)
    with pytest.raises(ValueError, match="max_queries"):
        square_attack(QueryAPI(victim), images, labels, EPS, max_queries=1)
