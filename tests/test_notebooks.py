"""Every walkthrough runs top to bottom in the tiny profile and records its results.

The walkthroughs run once, in the session's book build (conftest.py); each chapter's
fidelity checks read the results file there (tests/test_results_<chapter>.py). The lab
solutions run top to bottom in the grading batch (test_grading.py), where they must
score full marks. That every chapter has a walkthrough and a lab is checked in
test_layers.py.
"""

import pytest

from helpers import CHAPTERS

from conftest import read_results

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_walkthrough_runs_and_records_its_data(walkthrough_outputs, chapter):
    results = read_results(walkthrough_outputs, chapter)
    assert (results["profile"], results["seed"]) == ("tiny", 0), (
        f"expected profile 'tiny' and seed 0, got {results['profile']!r}, {results['seed']!r}")
    assert results["data"] and all("stand-in" in d for d in results["data"].values()), (
        f"expected every dataset recorded as a stand-in, got {results['data']}")
