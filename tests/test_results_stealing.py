"""Chapter 8, model stealing: the fidelity checks of LAB_SPECS.md §8, read from the
results file the walkthrough wrote (tiny profile; see conftest.py)."""

import pytest

pytestmark = pytest.mark.slow


def _agreement(results, pool, answer):
    return [copy["agreement"] for copy in results["curves"][pool][answer]]


def test_the_victim_learned_its_task(results):
    assert results["victim_accuracy"] > 0.85, (
        f"expected a victim above 85 % test accuracy, got {results['victim_accuracy']:.3f}")


def test_agreement_rises_with_the_budget(results):
    for answer in ("label", "probabilities"):
        values = _agreement(results, "task", answer)
        assert values[-1] > values[0] + 0.05, (
            f"task queries, {answer}: expected agreement to rise by 5+ points from the "
            f"smallest to the largest budget {results['budgets']}, got {values}")
        assert all(b > a - 0.03 for a, b in zip(values, values[1:])), (
            f"task queries, {answer}: expected no drop of more than 3 points from one "
            f"budget to the next, got {values}")


def test_probabilities_beat_labels_at_the_same_budget(results):
    for pool in ("task", "another"):
        labels = _agreement(results, pool, "label")
        probabilities = _agreement(results, pool, "probabilities")
        mean_gap = sum(p - l for p, l in zip(probabilities, labels)) / len(labels)
        assert mean_gap > 0.02, (
            f"{pool} queries: expected probabilities above labels by 2+ points on average "
            f"over the budgets {results['budgets']}: labels {labels}, probabilities "
            f"{probabilities}")
        assert probabilities[0] > labels[0], (
            f"{pool} queries: expected probabilities > labels at the smallest budget: "
            f"{probabilities[0]:.3f} vs {labels[0]:.3f}")


def test_natural_queries_beat_noise(results):
    natural = _agreement(results, "another", "probabilities")
    noise = _agreement(results, "noise", "probabilities")
    assert all(n > z + 0.1 for n, z in zip(natural, noise)), (
        f"expected queries from another natural distribution 10+ points above noise at "
        f"every budget (probability answers): natural {natural}, noise {noise}")


def test_reverse_sigmoid_costs_the_thief_and_not_the_labels(results):
    rows = results["defences"]
    none = rows["none"]
    reverse = next(row for name, row in rows.items() if name.startswith("reverse sigmoid"))
    assert reverse["top-1 changed (%)"] == 0, (
        f"expected the reverse sigmoid to change no top-1 label, got "
        f"{reverse['top-1 changed (%)']} %")
    assert reverse["victim accuracy (%)"] == pytest.approx(none["victim accuracy (%)"]), (
        f"expected the victim's accuracy unchanged: {none['victim accuracy (%)']} → "
        f"{reverse['victim accuracy (%)']}")
    assert reverse["thief agreement (%)"] < none["thief agreement (%)"] - 3, (
        f"expected the reverse sigmoid to lower the probability thief's agreement by 3+ "
        f"points: {none['thief agreement (%)']:.1f} → {reverse['thief agreement (%)']:.1f}")


def test_square_attack_rises_with_queries_and_stays_below_white_box(results):
    square = results["square"]
    success = square["success"]
    assert all(b >= a for a, b in zip(success, success[1:])), (
        f"expected success non-decreasing in the budget {square['budgets']}, got {success}")
    assert success[-1] > success[0] + 0.2, (
        f"expected success to rise by 20+ points over {square['budgets']}, got {success}")
    assert success[-1] < square["pgd_success"], (
        f"expected the Square attack ({success[-1]:.3f}) below white-box PGD "
        f"({square['pgd_success']:.3f}) at ε = {square['eps']}")
