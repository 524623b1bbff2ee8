"""The grader's reference watch and the students' check command, on a tiny synthetic lab.

The lab asks for ``fraction(x)`` (check that x is in [0, 1]) and names the kit's
``helpers.checks.check_fraction`` as off limits. No PyTorch, no sandbox: the runner runs
unsandboxed here (the sandboxed path is covered by test_grading and test_wrong_answers),
so these tests take about a second each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.grading import check, execute, sandbox
from helpers.grading.batch import cell_outcome
from helpers.grading.notebooks import Lab, merge, meta, role

REPO = Path(__file__).resolve().parents[1]
ANSWER = "def fraction(x):\n    if not 0 <= x <= 1:\n        raise ValueError(x)\n    return x\n"
DELEGATES = {
    "direct": "from helpers.checks import check_fraction\n"
              "def fraction(x):\n    return check_fraction('x', x)\n",
    "alias": "import helpers.checks as kit\nsolve = kit.check_fraction\n"
             "def fraction(x):\n    return solve(x, 'x')\n",
    "partial": "import functools\nfrom helpers import checks\n"
               "fraction = functools.partial(checks.check_fraction, 'x')\n",
}
VISIBLE_TEST = ("# Part 1 of 2 (1 point): values in [0, 1] come back\n"
                "assert fraction(0.5) == 0.5, f'expected 0.5, got {fraction(0.5)}'\n")
HIDDEN_TEST = ("# Part 2 of 2 (2 points): hidden\n### BEGIN HIDDEN TESTS\n"
               "from helpers.checks import check_fraction\n"
               "assert check_fraction('x', 1.0) == 1.0, 'the reference itself may be called'\n"
               "try:\n    fraction(2)\n    raised = False\nexcept ValueError:\n    raised = True\n"
               "assert raised, 'expected a ValueError for 2 (outside [0, 1])'\n"
               "### END HIDDEN TESTS\n")


def cell(kind: str, text: str, grade_id: str | None = None, points: int = 0) -> dict:
    info = {"locked": kind != "answer", "solution": kind == "answer",
            "grade": kind == "test", "grade_id": grade_id or kind, "schema_version": 3}
    if kind == "test":
        info["points"] = points
    return {"cell_type": "code", "metadata": {"nbgrader": info}, "source": text,
            "outputs": [], "execution_count": None}


def notebook(answer: str, hidden: bool = True) -> dict:
    cells = [cell("locked", "limit = 1", "setup"), cell("answer", answer, "fraction"),
             cell("test", VISIBLE_TEST, "test_core", 1),
             cell("test", HIDDEN_TEST if hidden else "# Part 2 of 2 (2 points): hidden\n",
                  "test_hidden", 2)]
    return {"cells": cells, "metadata": {"tai": {"references": ["helpers.checks.check_fraction"]}},
            "nbformat": 4, "nbformat_minor": 5}


def grade(answer: str) -> dict[str, dict]:
    """``{test grade_id: cell_outcome}`` of the synthetic lab with ``answer``."""
    lab = Lab("tiny", notebook(ANSWER), notebook("raise NotImplementedError()", False), "")
    merged = merge(lab, notebook(answer, hidden=False))
    run = execute.run(merged, None, sandbox.Limits(timeout=30), sandboxed=False)
    return {meta(c)["grade_id"]: cell_outcome(c, run.cells[i])
            for i, c in enumerate(merged.cells) if role(c) == "test"}


def test_own_answer_passes_while_tests_call_the_reference():
    outcomes = grade(ANSWER)
    assert all(o["status"] == "passed" for o in outcomes.values()), outcomes


@pytest.mark.parametrize("how", sorted(DELEGATES))
def test_delegating_to_the_reference_fails_every_test_it_touches(how):
    outcomes = grade(DELEGATES[how])
    for test in ("test_core", "test_hidden"):
        assert outcomes[test]["points"] == 0, f"{how}: {test} passed: {outcomes[test]}"
        assert outcomes[test]["detail"].startswith("ReferenceUsed: your code called the kit's "
                                                   "helpers.checks.check_fraction"), outcomes[test]


def test_switching_off_the_watch_is_caught_and_flagged():
    lab = Lab("tiny", notebook(ANSWER), notebook(ANSWER, False), "")
    sneaky = "import sys\n" + DELEGATES["direct"].replace(
        "    return", "    sys.setprofile(None)\n    return")
    merged = merge(lab, notebook(sneaky, hidden=False))
    run = execute.run(merged, None, sandbox.Limits(timeout=30), sandboxed=False)
    tests = [run.cells[i] for i, c in enumerate(merged.cells) if role(c) == "test"]
    assert [t.ename for t in tests] == ["TamperingSuspected"] * 2, tests
    assert any("call monitor" in flag for flag in run.flags), run.flags


def test_an_unknown_reference_is_flagged_not_fatal():
    lab = Lab("tiny", notebook(ANSWER), notebook(ANSWER, False), "")
    merged = merge(lab, notebook(ANSWER, hidden=False))
    merged.references = ["helpers.checks.no_such_function"]
    run = execute.run(merged, None, sandbox.Limits(timeout=30), sandboxed=False)
    assert any("no_such_function" in flag for flag in run.flags), run.flags
    assert all(r.status == "ok" for r in run.cells.values()), run.cells


def write(folder: Path, name: str, nb: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def run_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers.grading", "--course-dir",
                           str(path.parent), "check", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_check_reports_the_visible_score_part_by_part(tmp_path):
    done = run_check(write(tmp_path, "tiny_lab.ipynb", notebook(ANSWER, hidden=False)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   test_core" in done.stdout and "visible tests: 1 of 1 points" in done.stdout
    assert "test_hidden" in done.stdout and "hidden: graded only by the grader" in done.stdout
    failing = run_check(write(tmp_path, "tiny_lab.ipynb",
                              notebook("def fraction(x):\n    return 0\n", hidden=False)))
    assert failing.returncode == 1, failing.stdout
    assert "FAIL test_core" in failing.stdout and "expected 0.5, got 0" in failing.stdout


def test_check_names_what_would_break_at_grading(tmp_path):
    released = tmp_path / "labs" / "tiny"
    released.mkdir(parents=True)
    write(released, "tiny_lab.ipynb", notebook("raise NotImplementedError()", hidden=False))
    nb = notebook("%load_ext autoreload\n" + ANSWER, hidden=False)
    nb["cells"][2]["source"] = "pass"
    done = run_check(write(tmp_path, "tiny_lab.ipynb", nb))
    assert "answer cell fraction, line 1: '%load_ext autoreload'" in done.stdout, done.stdout
    assert "test cell test_core was edited (the original was run)" in done.stdout, done.stdout
    assert "FAIL test_core" in done.stdout and done.returncode == 1, done.stdout
    renamed = run_check(write(tmp_path, "my_work.ipynb", notebook(ANSWER, hidden=False)))
    assert renamed.returncode == 2 and "<lab>_lab.ipynb" in renamed.stderr, renamed.stderr
    assert check.lab_name(Path("ood_lab (1).ipynb")) == "ood"
