"""Every walkthrough and every lab solution runs top to bottom in the tiny profile, and
each walkthrough's recorded results show the chapter's fidelity checks (LAB_SPECS.md).

The walkthroughs run once, in the session's book build (conftest.py); the checks read
the results file each notebook wrote there, so nothing is re-trained here. The lab
solutions run with papermill.
"""

import json
import time
from pathlib import Path

import papermill
import pytest

REPO = Path(__file__).resolve().parent.parent
WALKTHROUGHS = sorted(REPO.glob("book/*/*.ipynb"))
SOLUTIONS = sorted(REPO.glob("solutions/*/*.ipynb"))

pytestmark = pytest.mark.slow


def _execute(notebook: Path, output_dir: Path) -> float:
    """Run ``notebook`` with papermill in its own folder; returns the wall time in seconds."""
    start = time.perf_counter()
    papermill.execute_notebook(str(notebook), str(output_dir / notebook.name),
                               cwd=str(notebook.parent),
                               kernel_name="python3", progress_bar=False)
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def walkthrough_results(book_build):
    """{chapter: results dict} written by each walkthrough during the book build."""
    results, missing = {}, []
    for notebook in WALKTHROUGHS:
        chapter = notebook.parent.name
        path = book_build.outputs / chapter / "results-tiny.json"
        if path.exists():
            results[chapter] = json.loads(path.read_text())
        else:
            missing.append(chapter)
    assert not missing, (
        f"walkthroughs that wrote no results in the book build: {missing}; "
        f"see the build log {book_build.log_path}")
    return results


def test_every_chapter_has_a_walkthrough_and_a_lab():
    assert WALKTHROUGHS and SOLUTIONS
    assert {n.parent.name for n in WALKTHROUGHS} == {n.parent.name for n in SOLUTIONS}


@pytest.mark.parametrize("chapter", [n.parent.name for n in WALKTHROUGHS])
def test_walkthrough_runs_and_records_its_data(walkthrough_results, chapter):
    results = walkthrough_results[chapter]
    assert results["profile"] == "tiny" and results["seed"] == 0
    assert results["data"] and all("stand-in" in d for d in results["data"].values())


@pytest.mark.parametrize("notebook", SOLUTIONS, ids=lambda p: p.parent.name)
def test_lab_solution_runs(notebook, tmp_path):
    print(f"\n{notebook.relative_to(REPO)}: {_execute(notebook, tmp_path):.1f} s")


# Chapter 1, generalization: the fidelity checks of LAB_SPECS.md §1.

def test_cross_domain_accuracy_is_far_below_in_domain(walkthrough_results):
    baseline = walkthrough_results["generalization"]["ablations"]["baseline"]
    assert baseline["SVHN"] > 0.7, "the baseline should learn its own domain"
    assert baseline["SVHN"] - baseline["MNIST"] > 0.2


def test_richer_domain_transfers_better_than_the_reverse(walkthrough_results):
    results = walkthrough_results["generalization"]
    forward_transfer = results["ablations"]["baseline"]["MNIST"]
    assert results["reverse"]["MNIST"] > 0.7, "the reverse model should learn its own domain"
    assert results["reverse"]["SVHN"] < forward_transfer - 0.1


def test_finetuning_the_head_raises_target_accuracy(walkthrough_results):
    results = walkthrough_results["generalization"]
    assert results["finetuned"]["SVHN"] > results["reverse"]["SVHN"] + 0.05
