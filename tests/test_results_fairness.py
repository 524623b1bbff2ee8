"""Chapter 3, fairness: the fidelity checks of LAB_SPECS.md §3, read from the results
file the walkthrough wrote (tiny profile: the planted bias of the stand-in census; the
debiased model passes the four-fifths rule for both attributes; see conftest.py)."""

import pytest

pytestmark = pytest.mark.slow


def test_unconstrained_models_violate_the_four_fifths_rule(results):
    table = results["table"]
    for run in ("unconstrained, with sex and race", "unconstrained, without sex and race"):
        row = table[run]
        assert row["accuracy"] > 78, (
            f"{run} should learn the task: expected accuracy > 78 %, got {row['accuracy']:.1f}")
        assert row["p% sex"] < 80 and row["p% race"] < 80, (
            f"{run}: expected both p%-rules < 80, got sex {row['p% sex']:.1f}, "
            f"race {row['p% race']:.1f}")


def test_debiasing_raises_both_p_rules_for_a_bounded_accuracy_loss(results):
    table = results["table"]
    before, after = table["unconstrained, without sex and race"], table["adversarial debiasing"]
    for attribute in ("sex", "race"):
        assert after[f"p% {attribute}"] >= 80, (
            f"the debiased model should pass the four-fifths rule for {attribute}: "
            f"expected >= 80, got {after[f'p% {attribute}']:.1f}")
    loss = before["accuracy"] - after["accuracy"]
    assert loss <= 5, (f"expected at most 5 points of accuracy lost, got {loss:.1f} "
                       f"({before['accuracy']:.1f} → {after['accuracy']:.1f})")


def test_larger_lambda_is_fairer_and_less_accurate(results):
    sweep = results["sweep"]
    scales = sorted(sweep, key=float)
    rows = [sweep[scale] for scale in scales]
    assert len(rows) >= 3, f"expected a sweep over 3+ λ scales, got {scales}"
    tolerance = 1.0  # percentage points of noise between neighbouring λ
    for (low, smaller), (high, larger) in zip(zip(scales, rows), zip(scales[1:], rows[1:])):
        assert larger["accuracy"] <= smaller["accuracy"] + tolerance, (
            f"expected accuracy not to rise from λ × {low} to × {high}: "
            f"{smaller['accuracy']:.1f} → {larger['accuracy']:.1f}")
        for attribute in ("sex", "race"):
            key = f"p% {attribute}"
            assert larger[key] >= smaller[key] - tolerance, (
                f"expected {key} not to fall from λ × {low} to × {high}: "
                f"{smaller[key]:.1f} → {larger[key]:.1f}")
    assert rows[-1]["accuracy"] < rows[0]["accuracy"], (
        f"expected the largest λ to cost accuracy: {rows[0]['accuracy']:.1f} → "
        f"{rows[-1]['accuracy']:.1f}")
    fairest = lambda row: min(row["p% sex"], row["p% race"])  # noqa: E731
    assert fairest(rows[-1]) > fairest(rows[0]), (
        f"expected the largest λ to raise the smaller p%-rule: {fairest(rows[0]):.1f} → "
        f"{fairest(rows[-1]):.1f}")


def test_every_model_beats_always_predicting_the_majority_class(results):
    # chance on this unbalanced task is the majority rate (about 0.75), not 0.5: a
    # "fair" classifier that predicts "<= 50k" for everyone has p%-rules of 100 and
    # exactly that accuracy, so each model must beat it by a margin
    models = results["models"]
    assert len(models) >= 5, f"expected every trained classifier recorded, got {list(models)}"
    for name, scores in models.items():
        assert 0.5 <= scores["chance"] < 1, (
            f"{name}: chance should be the majority rate, got {scores}")
        assert scores["accuracy"] >= scores["chance"] + 0.03, (
            f"{name}: expected accuracy >= majority rate + 3 points, got "
            f"{scores['accuracy']:.3f} vs chance {scores['chance']:.3f}")
