"""Every walkthrough runs top to bottom in the tiny profile and records its results.

The walkthroughs run once, in the session's book build (conftest.py); each chapter's
fidelity checks read the results file there (tests/test_results_<chapter>.py). The lab
solutions run top to bottom in the grading batch (test_grading.py), where they must
score full marks.
"""

import json
from pathlib import Path

import pytest

from helpers import CHAPTERS

REPO = Path(__file__).resolve().parent.parent
WALKTHROUGHS = sorted(REPO.glob("book/*/*.ipynb"))
SOLUTIONS = sorted(REPO.glob("solutions/*/*.ipynb"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def walkthrough_results(walkthrough_outputs):
    """{chapter: results dict} written by each walkthrough during the book build."""
    results, missing = {}, []
    for notebook in WALKTHROUGHS:
        chapter = notebook.parent.name
        path = walkthrough_outputs / chapter / "results-tiny.json"
        if path.exists():
            results[chapter] = json.loads(path.read_text())
        else:
            missing.append(chapter)
    assert not missing, (
        f"walkthroughs that wrote no results in the book build: {missing}; "
        f"see the book build log under _build/artifacts")
    return results


def test_every_chapter_has_a_walkthrough_and_a_lab():
    walkthroughs = {n.parent.name for n in WALKTHROUGHS}
    labs = {n.parent.name for n in SOLUTIONS}
    assert walkthroughs == labs == set(CHAPTERS), (
        f"expected a walkthrough and a lab for each of {CHAPTERS}; walkthroughs "
        f"{sorted(walkthroughs)}, labs {sorted(labs)}")


@pytest.mark.parametrize("chapter", [n.parent.name for n in WALKTHROUGHS])
def test_walkthrough_runs_and_records_its_data(walkthrough_results, chapter):
    results = walkthrough_results[chapter]
    assert (results["profile"], results["seed"]) == ("tiny", 0), (
        f"expected profile 'tiny' and seed 0, got {results['profile']!r}, {results['seed']!r}")
    assert results["data"] and all("stand-in" in d for d in results["data"].values()), (
        f"expected every dataset recorded as a stand-in, got {results['data']}")
