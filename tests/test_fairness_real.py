"""The fairness experiment on the real UCI Adult files in ``<repo>/../shared/data/adult``.

The quick profile's settings with a shortened game (``ITERATIONS`` instead of the
profile's count) so that it fits the suite: it checks the direction the course report
found on real data, not the final numbers (``data_scripts/measure_fairness.py`` measures
those into ``book/measurements/fairness-quick.json``).
"""

import sys
from pathlib import Path

import pytest

from helpers.data import adult as adult_data
from helpers.profiles import get_profile

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO / "data_scripts"))
import measure_fairness  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (ROOT / "adult" / "adult.data").is_file() or not (ROOT / "adult" / "adult.test").is_file(),
    reason=f"the real UCI Adult files are not in {ROOT / 'adult'} (CI has them)")

ITERATIONS = 60     # of the profile's game; enough for both p%-rules to rise clearly


@pytest.fixture(scope="module")
def measured():
    """The unconstrained and the (shortly) debiased classifier's scores on seed 0."""
    measure_fairness.adult_checksums(ROOT)          # only the published files count
    settings = get_profile("quick").fairness
    adult = adult_data.load_adult("real", size=settings.size, seed=0, verbose=False,
                                  root=ROOT)
    players = measure_fairness.pretrained(adult, settings, seed=0)
    debiased = measure_fairness.game(players, adult, settings, seed=0,
                                     iterations=ITERATIONS)
    return {"unconstrained": measure_fairness.scores(players.classifier, adult),
            "debiased": measure_fairness.scores(debiased.classifier, adult),
            "rows": len(adult.y_train) + len(adult.y_test)}


def test_the_real_files_are_read_in_full(measured):
    assert measured["rows"] == 46447, (
        f"expected the 46,447 White or Black rows of adult.data + adult.test, "
        f"got {measured['rows']}")


def test_the_unconstrained_model_is_accurate_and_violates_the_four_fifths_rule(measured):
    row = measured["unconstrained"]
    assert row["accuracy"] > 82, f"expected accuracy > 82 % on real Adult, got {row['accuracy']}"
    for attribute in ("sex", "race"):
        assert row[f"p% {attribute}"] < 80, (
            f"expected the unconstrained p%-rule for {attribute} below 80 on real Adult, "
            f"got {row[f'p% {attribute}']}")


def test_debiasing_raises_both_p_rules(measured):
    before, after = measured["unconstrained"], measured["debiased"]
    for attribute in ("sex", "race"):
        key = f"p% {attribute}"
        assert after[key] >= before[key] + 10, (
            f"expected {ITERATIONS} iterations of the game to raise {key} by 10+ points: "
            f"{before[key]} → {after[key]}")
    loss = before["accuracy"] - after["accuracy"]
    assert loss <= 6, (f"expected a bounded accuracy loss (<= 6 points after "
                       f"{ITERATIONS} iterations), got {loss:.1f}")
