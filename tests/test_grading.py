"""nbgrader round trip, for every lab in solutions/ (in a temporary copy of the course).

1. Drift: regenerating labs/ from solutions/ reproduces the committed labs/ exactly.
2. One autograde batch with one student per kind of submission:
   - solution:  the instructor notebook            -> full autograded marks
   - untouched: the released lab as is             -> 0 on every autograded test
   - raises:    an answer cell raises              -> graded, fewer points
   - loops:     an answer cell loops forever       -> stopped by the per-cell timeout, graded
   - tampered:  the lab with test cells edited to `pass` and one deleted -> still 0
   - hostile:   a loop that ignores the interrupt  -> reported as failed, batch goes on
3. Feedback HTML for every graded student.  4. CSV export with a row per student.

The real gradebook and submitted/autograded/feedback folders are never touched.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nbgrader  # noqa: E402,F401  (the grading extra; `make env` installs it)

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (REPO / "solutions").glob("*/")
                  if (p / f"{p.name}_lab.ipynb").is_file())
# Seconds per cell in the test batch (nbgrader_config.py has 60). The slowest solution
# cell (the ungraded training demo) took 30 s with a book build running on the 2 cores.
TIMEOUT = 30
STUDENTS = ["hostile", "loops", "raises", "solution", "tampered", "untouched"]
# Ignores the kernel interrupt that nbgrader sends on timeout: the kernel never recovers.
HOSTILE_LOOP = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"


def grading(course: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run the instructor CLI on ``course``; returns the finished process.

    Student kernels inherit the environment: their run outputs go under ``course``.
    """
    env = {**os.environ, "TAI_OUTPUT_DIR": str(course / "outputs")}
    return subprocess.run([sys.executable, "-m", "helpers.grading", "--course-dir", str(course),
                           *args], capture_output=True, text=True, timeout=timeout, cwd=course,
                          env=env)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_answer(cell: dict) -> bool:
    """An autograded answer: student code that tests check (solution, not a grade cell)."""
    meta = nbgrader_meta(cell)
    return cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade")


def is_test(cell: dict) -> bool:
    """An autograded test cell."""
    meta = nbgrader_meta(cell)
    return cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution")


def first_answer(nb: dict) -> int:
    """Index of the first answer cell that some later test cell depends on."""
    for index, cell in enumerate(nb["cells"]):
        if is_answer(cell) and any(is_test(c) for c in nb["cells"][index + 1:]):
            return index
    raise AssertionError("the lab has no answer cell followed by an autograded test")


def with_source(nb: dict, index: int, source: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"][index]["source"] = source
    return nb


def tampered(lab: dict) -> dict:
    """The released lab with every test cell edited to `pass` and the first one deleted."""
    nb = copy.deepcopy(lab)
    tests = [i for i, cell in enumerate(nb["cells"]) if is_test(cell)]
    for index in tests:
        nb["cells"][index]["source"] = "pass"
    del nb["cells"][tests[0]]
    return nb


def submissions_for(chapter: str) -> dict[str, dict]:
    solution = load(REPO / "solutions" / chapter / f"{chapter}_lab.ipynb")
    lab = load(REPO / "labs" / chapter / f"{chapter}_lab.ipynb")
    answer = first_answer(solution)
    return {
        "solution": solution,
        "untouched": lab,
        "raises": with_source(solution, answer, 'raise RuntimeError("broken")'),
        "loops": with_source(solution, answer, "while True: pass"),
        "tampered": tampered(lab),
        "hostile": with_source(solution, answer, HOSTILE_LOOP),
    }


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch copy of the course: config, solutions/ and labs/ (no gradebook)."""
    if not CHAPTERS:
        pytest.skip("no labs in solutions/ yet")
    unreleased = [ch for ch in CHAPTERS if not (REPO / "labs" / ch / f"{ch}_lab.ipynb").is_file()]
    if unreleased:
        pytest.fail(f"no labs/ notebook for {', '.join(unreleased)}; run make labs and commit it")
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "solutions", root / "solutions")
    shutil.copytree(REPO / "labs", root / "labs")
    return root


@pytest.fixture(scope="module")
def released(course) -> Path:
    """``release`` run in the scratch course (regenerates labs/, fills the gradebook)."""
    start = time.monotonic()
    result = grading(course, "release")
    print(f"\nrelease: {time.monotonic() - start:.1f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    return course


@pytest.fixture(scope="module")
def batch(released, tmp_path_factory) -> subprocess.CompletedProcess:
    """One autograde batch: every kind of student, for every chapter."""
    folder = tmp_path_factory.mktemp("submissions")
    for chapter in CHAPTERS:
        for student, nb in submissions_for(chapter).items():
            path = folder / student / chapter / f"{chapter}_lab.ipynb"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    start = time.monotonic()
    result = grading(released, "autograde", str(folder), "--timeout", str(TIMEOUT))
    print(f"autograde ({len(STUDENTS)} students x {len(CHAPTERS)} labs): "
          f"{time.monotonic() - start:.1f} s\n{result.stdout}")
    return result


def grades(course: Path, chapter: str, student: str) -> dict[str, tuple]:
    """``{grade_id: (auto_score, max_score)}`` of the autograded tests, from the gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(f"{chapter}_lab", chapter, student)
        answers = {cell.name for cell in notebook.notebook.solution_cells}
        return {g.cell.name: (g.auto_score, g.max_score) for g in notebook.grades
                if g.cell.cell_type == "code" and g.cell.name not in answers
                and g.cell.type == "GradeCell"}


def autograded(course: Path, chapter: str, student: str) -> dict:
    return load(course / "autograded" / student / chapter / f"{chapter}_lab.ipynb")


# ------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_reproduces_committed_labs(released, chapter):
    """labs/ is what `make labs` generates from solutions/ (run `make labs` if this fails)."""
    new = load(released / "labs" / chapter / f"{chapter}_lab.ipynb")
    old = load(REPO / "labs" / chapter / f"{chapter}_lab.ipynb")
    assert len(new["cells"]) == len(old["cells"]), f"{chapter}: cell count drifted; run make labs"
    for index, (a, b) in enumerate(zip(new["cells"], old["cells"])):
        where = f"labs/{chapter} cell {index} ({nbgrader_meta(a).get('grade_id', a.get('id'))})"
        assert "".join(a["source"]) == "".join(b["source"]), f"{where}: source drifted; run make labs"
        assert nbgrader_meta(a) == nbgrader_meta(b), f"{where}: nbgrader metadata drifted; run make labs"
    committed = sorted(p.name for p in (REPO / "labs" / chapter).iterdir())
    generated = sorted(p.name for p in (released / "labs" / chapter).iterdir())
    assert generated == committed, f"labs/{chapter}: files differ; run make labs"
    for name in generated:
        assert (released / "labs" / chapter / name).read_bytes() == \
            (REPO / "labs" / chapter / name).read_bytes(), \
            f"labs/{chapter}/{name} is not byte-identical to a fresh release; run make labs"


@pytest.mark.slow
def test_batch_grades_everyone_it_can(batch):
    """The batch runs to the end; only the hostile submission is reported as failed."""
    assert batch.returncode == 1, batch.stdout + batch.stderr  # 1 = some submission failed
    for chapter in CHAPTERS:
        for student in STUDENTS:
            line = next(l for l in batch.stdout.splitlines()
                        if l.split()[:2] == [student, chapter])
            if student == "hostile":
                assert "FAILED" in line and "interrupt" in line, line
            else:
                assert line.split("  ")[-1].lstrip().startswith("ok"), line


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_score_relations(released, batch, chapter):
    full = grades(released, chapter, "solution")
    assert full and all(auto == top for auto, top in full.values()), f"solution: {full}"
    top = sum(m for _, m in full.values())
    for student in ("untouched", "tampered"):
        got = grades(released, chapter, student)
        assert set(got) == set(full), f"{student}: not every test was graded: {got}"
        assert all(auto == 0 for auto, _ in got.values()), f"{student}: {got}"
    for student in ("raises", "loops"):
        got = grades(released, chapter, student)
        assert all(auto is not None for auto, _ in got.values()), f"{student} not graded: {got}"
        assert sum(auto for auto, _ in got.values()) < top, f"{student}: {got}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_timeout_and_tampering_are_visible(released, batch, chapter):
    """The loop cell shows the timeout error; the deleted test cell is back."""
    loops = autograded(released, chapter, "loops")
    enames = [o.get("ename") for c in loops["cells"] for o in c.get("outputs", [])]
    assert "CellTimeoutError" in enames
    ids = [nbgrader_meta(c).get("grade_id") for c in autograded(released, chapter, "tampered")["cells"]]
    tests = [nbgrader_meta(c)["grade_id"] for c in load(
        REPO / "solutions" / chapter / f"{chapter}_lab.ipynb")["cells"] if is_test(c)]
    assert set(tests) <= set(ids), "a deleted test cell was not restored"


@pytest.mark.slow
def test_feedback_for_every_graded_student(released, batch):
    result = grading(released, "feedback")
    assert result.returncode == 0, result.stdout + result.stderr
    for chapter in CHAPTERS:
        for student in STUDENTS:
            html = released / "feedback" / student / chapter / f"{chapter}_lab.html"
            if student == "hostile":
                assert not html.exists()
            else:
                assert html.is_file() and "Score" in html.read_text(encoding="utf-8"), html


@pytest.mark.slow
def test_export_has_a_row_per_student(released, batch):
    result = grading(released, "export", "--to", "grades.csv")
    assert result.returncode == 0, result.stdout + result.stderr
    with open(released / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for chapter in CHAPTERS:
        got = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == chapter}
        assert set(got) == set(STUDENTS), got
        assert got["solution"] > got["raises"] and got["untouched"] == 0


def test_cli_errors_are_clear(tmp_path):
    """Unknown lab, missing or mis-laid-out submissions: one-line errors, exit status 2."""
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    (tmp_path / "solutions" / "generalization").mkdir(parents=True)
    result = grading(tmp_path, "release", "nope")
    assert result.returncode == 2 and "unknown lab 'nope'" in result.stderr
    result = grading(tmp_path, "autograde", str(tmp_path / "missing"))
    assert result.returncode == 2 and "<student>/<lab>/<lab>_lab.ipynb" in result.stderr
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "generalization_lab.ipynb").write_text("{}")
    result = grading(tmp_path, "autograde", str(tmp_path / "flat"))
    assert result.returncode == 2 and "expected SUBMISSIONS/<student>/<lab>" in result.stderr
    result = grading(tmp_path.parent, "export")
    assert result.returncode == 2 and "nbgrader_config.py" in result.stderr
