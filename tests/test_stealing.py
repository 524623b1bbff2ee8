"""helpers.stealing: the query API (counting, budget, answers, defences, ensembles), the
reverse sigmoid against ART's ``ReverseSigmoid``, rounding against ART's ``Rounded``,
query sets, the soft-label step and agreement. (The Square attack:
test_query_attacks.py; figures: test_stealing_plots.py.)"""

import functools

import numpy as np
import pytest
import torch
from torch import nn

from helpers import models, stealing
from helpers.stealing import BudgetExceeded, QueryAPI


class Fixed(nn.Module):
    """A 'classifier' whose logits are the first K pixel values of each image."""

    def __init__(self, k=4):
        super().__init__()
        self.k = k
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.scale * x.flatten(1)[:, :self.k] * 10


def _images(n=6, seed=0):
    return torch.rand(n, 1, 2, 2, generator=torch.Generator().manual_seed(seed))


def _probabilities(n=200, k=10, seed=0, spread=4.0):
    logits = torch.randn(n, k, generator=torch.Generator().manual_seed(seed)) * spread
    return torch.softmax(logits, 1)


# --- counting and budget ------------------------------------------------------------------

def test_one_query_per_image_not_per_batch():
    api = QueryAPI(Fixed(), budget=10)
    api.query(_images(3))
    api.query(_images(4))
    assert api.used == 7, f"expected 3 + 4 = 7 queries counted, got {api.used}"
    assert api.remaining == 3, f"expected 3 queries remaining, got {api.remaining}"


def test_a_batch_past_the_budget_is_refused_whole_and_leaves_the_count_unchanged():
    api = QueryAPI(Fixed(), budget=5)
    api.query(_images(3))
    with pytest.raises(BudgetExceeded) as error:
        api.query(_images(4))
    message = str(error.value)
    assert "5" in message and "2 queries remain" in message, (
        f"expected the message to name the budget 5 and the 2 remaining, got {message!r}")
    assert api.used == 3, f"expected the refused batch not to be counted: used {api.used}"
    answer = api.query(_images(2))
    assert len(answer) == 2 and api.used == 5, (
        f"expected the last 2 queries to be answered (used 5), got {len(answer)}, {api.used}")
    with pytest.raises(BudgetExceeded):
        api.query(_images(1))


def test_without_a_budget_the_api_never_refuses():
    api = QueryAPI(Fixed())
    api.query(_images(50))
    assert api.remaining == float("inf") and api.used == 50, (
        f"expected unlimited remaining and 50 used, got {api.remaining}, {api.used}")


def test_scores_are_the_operators_view_and_are_not_counted():
    api = QueryAPI(Fixed(), budget=1)
    api.scores(_images(5))
    assert api.used == 0, f"expected scores() not to count queries, got {api.used}"


# --- answers --------------------------------------------------------------------------------

def test_answer_modes_label_top_k_and_probabilities():
    images = _images()
    probabilities = torch.softmax(Fixed()(images), 1)
    labels = QueryAPI(Fixed(), answer="label").query(images)
    assert labels.dtype == torch.int64 and torch.equal(labels, probabilities.argmax(1)), (
        f"expected the argmax labels {probabilities.argmax(1)}, got {labels}")
    full = QueryAPI(Fixed()).query(images)
    assert torch.allclose(full, probabilities), "expected the softmax of the logits"
    top2 = QueryAPI(Fixed(), answer="top-k", k=2).query(images)
    assert ((top2 > 0).sum(1) == 2).all(), f"expected 2 non-zero scores per row, got {top2}"
    kept = top2 > 0
    assert torch.equal(top2[kept], probabilities[kept]), "expected the top-2 scores unchanged"
    smallest_kept = top2.masked_fill(~kept, 2).min(1).values
    largest_dropped = probabilities.masked_fill(kept, -1).max(1).values
    assert (smallest_kept >= largest_dropped).all(), "expected the 2 LARGEST scores kept"


def test_an_ensemble_answers_with_its_members_mean_probabilities():
    first, second = Fixed(), Fixed()
    with torch.no_grad():
        second.scale.fill_(-0.5)
    images = _images()
    expected = (torch.softmax(first(images), 1) + torch.softmax(second(images), 1)) / 2
    answer = QueryAPI([first, second]).query(images)
    assert torch.allclose(answer, expected), f"expected the mean, got {answer[0]} vs {expected[0]}"


def test_the_api_leaves_the_model_as_it_found_it():
    model = models.build_model("small_cnn", 10, 4)
    model.train()
    QueryAPI(model).query(torch.rand(3, 3, 32, 32))
    assert model.training and all(p.requires_grad for p in model.parameters()), (
        "expected training mode and requires_grad restored")


def test_api_rejects_bad_arguments():
    with pytest.raises(ValueError, match="answer"):
        QueryAPI(Fixed(), answer="logits")
    with pytest.raises(ValueError, match="budget"):
        QueryAPI(Fixed(), budget=-1)
    with pytest.raises(TypeError, match="victim"):
        QueryAPI("model")
    with pytest.raises(TypeError, match="defence"):
        QueryAPI(Fixed(), defence=3)
    with pytest.raises((TypeError, ValueError), match="images"):
        QueryAPI(Fixed()).query(torch.rand(2, 4))


# --- defences ----------------------------------------------------------------------------

def test_rounding_equals_art_rounded():
    from art.defences.postprocessor import Rounded

    probabilities = _probabilities()
    for decimals in (1, 2, 3):
        ours = stealing.round_scores(probabilities.double(), decimals).numpy()
        theirs = Rounded(decimals=decimals)(probabilities.double().numpy())
        assert np.array_equal(ours, theirs), f"decimals={decimals}: differs from ART's Rounded"
    known = stealing.round_scores(torch.tensor([[0.126, 0.874]]), 2)
    assert torch.allclose(known, torch.tensor([[0.13, 0.87]])), f"got {known}"


def test_reverse_sigmoid_equals_art_reverse_sigmoid():
    from art.defences.postprocessor import ReverseSigmoid

    probabilities = torch.cat([_probabilities(spread=s) for s in (0.5, 3.0, 12.0)]).double()
    for beta, gamma in ((1.0, 0.1), (0.5, 0.2), (0.3, 0.5)):
        ours = stealing.reverse_sigmoid(probabilities, beta, gamma).numpy()
        theirs = ReverseSigmoid(beta=beta, gamma=gamma)(probabilities.numpy())
        gap = np.abs(ours - theirs).max()
        assert gap < 1e-12, f"β={beta}, γ={gamma}: max difference to ART {gap:.2e}"


def test_reverse_sigmoid_known_values_and_rows_sum_to_one():
    # p = ½: σ⁻¹(½) = 0, r = β(σ(0) − ½) = 0 → unchanged
    half = stealing.reverse_sigmoid(torch.tensor([[0.5, 0.5]]), 1.0, 0.1)
    assert torch.allclose(half, torch.tensor([[0.5, 0.5]])), f"expected [½, ½], got {half}"
    # p = 0.9, 0.1 with β = 1, γ = 1: r = ±(0.9 − ½) → q = (½, ½)
    flat = stealing.reverse_sigmoid(torch.tensor([[0.9, 0.1]], dtype=torch.float64), 1.0, 1.0)
    assert torch.allclose(flat, torch.tensor([[0.5, 0.5]], dtype=torch.float64)), f"got {flat}"
    answers = stealing.reverse_sigmoid(_probabilities(), 0.5, 0.2)
    sums = answers.sum(1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-6), f"row sums {sums[:4]}"


def test_reverse_sigmoid_reverses_the_order_of_the_smallest_scores():
    row = torch.tensor([[0.97, 0.02, 0.01 - 1e-6, 1e-6]], dtype=torch.float64)
    answer = stealing.reverse_sigmoid(row, 0.5, 0.2)[0]
    assert answer[3] > answer[1], (
        f"expected the least likely class (1e-6) to get more mass than the 0.02 one: {answer}")


def test_reverse_sigmoid_keeps_the_top1_label_for_the_chapters_setting():
    from helpers.profiles import get_profile

    beta, gamma = get_profile("tiny").stealing.reverse_sigmoid
    assert stealing.keeps_top1(beta, gamma, 10), f"β={beta}, γ={gamma} can change top-1"
    probabilities = torch.cat([_probabilities(1000, spread=s, seed=i)
                               for i, s in enumerate((0.3, 1, 3, 10))])
    answers = stealing.reverse_sigmoid(probabilities, beta, gamma)
    assert torch.equal(answers.argmax(1), probabilities.argmax(1)), "top-1 label changed"


def test_keeps_top1_detects_arts_default_flipping_a_low_confidence_answer():
    assert not stealing.keeps_top1(1.0, 0.1, 10), "expected β=1, γ=0.1 to fail the check"
    row = torch.tensor([[0.3, 0.29, 0.29, 0.12 - 1e-9, 1e-9]], dtype=torch.float64)
    answer = stealing.reverse_sigmoid(row, 1.0, 0.1)
    assert answer.argmax(1).item() == 4, (
        f"expected ART's default parameters to move the top-1 to the 1e-9 class, got {answer}")


def test_top1_only_is_the_one_hot_label():
    probabilities = _probabilities(5)
    answer = stealing.top1_only(probabilities)
    expected = nn.functional.one_hot(probabilities.argmax(1), 10).float()
    assert torch.equal(answer, expected), f"expected one-hot labels, got {answer}"


def test_defences_apply_before_the_answer():
    rounded = QueryAPI(Fixed(), defence=functools.partial(stealing.round_scores, decimals=1))
    answer = rounded.query(_images())
    assert torch.equal(answer, torch.round(answer, decimals=1)), "expected 1-decimal scores"
    labels = QueryAPI(Fixed(), answer="label", defence=stealing.top1_only).query(_images())
    assert torch.equal(labels, torch.softmax(Fixed()(_images()), 1).argmax(1)), "labels moved"


# --- query sets, extraction, agreement ---------------------------------------------------------

def test_uniform_noise_is_seeded_and_in_range():
    first = stealing.uniform_noise(4, (3, 8, 8), seed=1)
    assert first.shape == (4, 3, 8, 8) and 0 <= first.min() and first.max() <= 1, "range/shape"
    assert torch.equal(first, stealing.uniform_noise(4, (3, 8, 8), seed=1)), "not seeded"


def test_match_shape_pads_and_repeats_channels():
    images = torch.rand(2, 1, 28, 28)
    matched = stealing.match_shape(images, (3, 32, 32))
    assert matched.shape == (2, 3, 32, 32), f"got {tuple(matched.shape)}"
    assert torch.equal(matched[:, 1, 2:30, 2:30], images[:, 0]), "expected the image centred"
    assert matched[:, :, :2].abs().sum() == 0, "expected a zero border"
    smaller = stealing.match_shape(torch.rand(2, 3, 40, 40), (1, 32, 32))
    assert smaller.shape == (2, 1, 32, 32), f"got {tuple(smaller.shape)}"


def test_soft_cross_entropy_known_values():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    targets = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    log_p = torch.log_softmax(logits, 1)
    expected = -(0.25 * log_p[0, 0] + 0.75 * log_p[0, 1] + log_p[1, 0]) / 2
    got = stealing.soft_cross_entropy(logits, targets)
    assert torch.isclose(got, expected), f"expected {expected.item()}, got {got.item()}"
    hard = stealing.soft_cross_entropy(logits, torch.tensor([1, 0]))
    assert torch.isclose(hard, nn.functional.cross_entropy(logits, torch.tensor([1, 0])))
    doubled = stealing.soft_cross_entropy(logits, 2 * targets)
    assert torch.isclose(doubled, expected), "expected targets to be normalized first"


def test_soft_label_step_reports_agreement_labels():
    model = Fixed(k=3)
    answers = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    result = stealing.soft_label_step(model, (torch.rand(2, 1, 2, 2), answers))
    assert torch.equal(result["labels"], torch.tensor([1, 0])), f"got {result['labels']}"
    assert result["loss"].requires_grad, "expected a loss to back-propagate"


def test_steal_counts_the_queries_and_copies_a_simple_victim():
    torch.manual_seed(0)
    victim = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    api = QueryAPI(victim, budget=400)
    queries = stealing.uniform_noise(400, (1, 2, 2), seed=3)
    theft = stealing.steal(api, queries, nn.Sequential(nn.Flatten(), nn.Linear(4, 3)),
                           steps=300, batch_size=32, lr=0.05, seed=0)
    assert theft.queries == 400 and api.used == 400, f"expected 400 queries, got {api.used}"
    test = stealing.uniform_noise(500, (1, 2, 2), seed=4)
    agreement = stealing.model_agreement(theft.surrogate, victim, test)
    assert agreement > 0.9, f"expected a linear victim copied to > 90 % agreement: {agreement}"


def test_epochs_for_gives_about_the_same_number_of_steps():
    assert stealing.epochs_for(100, 300, 32) == 75, "4 batches per epoch → 75 epochs"
    assert stealing.epochs_for(3200, 300, 32) == 3, "100 batches per epoch → 3 epochs"
    assert stealing.epochs_for(100_000, 10, 32) == 1, "expected at least one epoch"


def test_agreement_known_values():
    assert stealing.agreement(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 0, 0])) == 0.5
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    value = stealing.agreement(scores, torch.tensor([0, 0]))
    assert value == 0.5, f"expected argmax of scores to be used: 0.5, got {value}"
    with pytest.raises(ValueError, match="same length"):
        stealing.agreement(torch.tensor([0, 1]), torch.tensor([0]))
