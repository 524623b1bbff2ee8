"""Writing grades: nbgrader's SQLite gradebook and one result file per submission.

Only the grading process's main thread calls `record`, so there is exactly one writer to
``gradebook.db`` however many sandboxes run in parallel. The gradebook is never visible
inside a sandbox. After the gradebook commit, the result is also written (atomically) to
``autograded/<student>/<lab>/result.json``; a later run skips a submission whose result
file matches the same submission and lab files (resume after an interruption).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from helpers.paths import atomic_write_text

from .course import nbgrader
from .notebooks import Lab, role

RESULT_FILE = "result.json"
FORMAT = 2  # bump when grading changes, so that old results are regraded


def result_path(root: Path, student: str, lab: str) -> Path:
    return root / "autograded" / student / lab / RESULT_FILE


def load_result(root: Path, student: str, lab: str) -> dict | None:
    """The stored result of a submission, or None."""
    try:
        return json.loads(result_path(root, student, lab).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_done(result: dict | None, submission_sha: str, lab: Lab) -> bool:
    """Whether ``result`` already grades this exact submission against this lab."""
    return bool(result) and result.get("format") == FORMAT and \
        result.get("submission_sha256") == submission_sha and \
        result.get("lab_sha256") == lab.digest


def gradebook_missing(cfg, root: Path) -> bool:
    """Whether the course's default SQLite gradebook has not been created yet (a
    configured database elsewhere is assumed to exist)."""
    db = root / "gradebook.db"
    return cfg.CourseDirectory.db_url == f"sqlite:///{db}" and not db.exists()


def open_gradebook(db_url: str):
    """An nbgrader ``Gradebook`` (creates the database if needed)."""
    nbgrader()
    from nbgrader.api import Gradebook
    return Gradebook(db_url)


def record(gb, lab: Lab, result: dict) -> None:
    """Store one submission's autograded scores; manual grades already given are kept.

    Test cells get ``auto_score`` = the points of `result`; written answers are marked as
    needing a manual grade unless they have one. The submission time and the late
    penalty (`course_ops.lateness`) go where nbgrader's CSV export reads them. The notebook is ``flagged`` in the
    gradebook when the grader flagged the submission (tampering, crashes).
    """
    from nbgrader.api import MissingEntry
    student, name = result["student"], lab.name
    gb.update_or_create_student(student)
    try:
        submission = gb.find_submission(name, student)
    except MissingEntry:
        with warnings.catch_warnings():  # nbgrader's ORM warns "... not in session": harmless
            warnings.simplefilter("ignore")
            submission = gb.add_submission(name, student)
    notebook_id = f"{name}_lab"
    tests = result["tests"]
    for cell in lab.solution["cells"]:
        kind = role(cell)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if kind not in ("test", "manual") or not cell["metadata"]["nbgrader"].get("grade"):
            continue
        grade = gb.find_grade(grade_id, notebook_id, name, student)
        if kind == "test":
            grade.auto_score = float(tests[grade_id]["points"])
            grade.needs_manual_grade = grade.manual_score is not None
        else:
            grade.auto_score = None
            grade.needs_manual_grade = grade.manual_score is None
    if result.get("timestamp"):
        from nbgrader.utils import parse_utc
        submission.timestamp = parse_utc(result["timestamp"])
    for notebook in submission.notebooks:
        notebook.flagged = bool(result["flags"])
        notebook.late_submission_penalty = result.get("penalty") or None
    gb.db.commit()


def save_result(root: Path, result: dict) -> None:
    """Write the result file (after `record`): marks the submission as done."""
    atomic_write_text(result_path(root, result["student"], result["lab"]),
                      json.dumps(result, indent=1, sort_keys=True))
