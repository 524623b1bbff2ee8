"""Course operations around grading: the roster, deadlines and the late penalty, grade
exports for Canvas and Moodle, and the solutions handed out after the deadline.

- Roster: ``python -m helpers.grading roster students.csv`` imports every enrolled student
  into the gradebook (columns ``id`` and optionally ``first_name``, ``last_name``,
  ``email``, ``lms_user_id``), so ``grades.csv`` lists them all, with 0 for a lab they did
  not hand in, and LMS file names are matched to them by the LMS's numeric id.
- Deadlines: ``c.Course.deadlines = {"<lab>": "2027-01-29 23:59:00 Europe/Berlin"}`` in
  ``nbgrader_config.py``. A submission's time is its ``timestamp.txt`` (written by
  nbgrader's exchange) or the ``timestamp`` group of the LMS file-name pattern.
- Late penalty: ``PercentPerDay``, an nbgrader ``LateSubmissionPlugin`` configured as
  ``c.PercentPerDay.percent_per_day`` and ``c.PercentPerDay.max_days_late``: each started
  day late costs that % of the lab's points; after that many days the lab scores 0.
  nbgrader's CSV export subtracts the penalty (its ``score`` column).
"""

from __future__ import annotations

import csv
import functools
import html
import math
import os
import re
from datetime import datetime
from pathlib import Path

from .course import GradingError, check_labs, config, course_root, nbgrader
from .gradebook import gradebook_missing, open_gradebook
from .notebooks import HIDDEN_BEGIN, HIDDEN_END, SOLUTION_BEGIN, SOLUTION_END

ROSTER_COLUMNS = ("id", "first_name", "last_name", "email", "lms_user_id")
DAY = 86400.0


# ------------------------------------------------------------------------------ roster

def read_roster(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a roster CSV, checked: an ``id`` column, ids unique and usable as folder
    names. Raises `GradingError` naming the row and the fix."""
    from .collect import student_id
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise GradingError(f"cannot read the roster {path}: {error}") from error
    if not rows or "id" not in rows[0]:
        raise GradingError(f"roster {path}: expected a CSV with a header row holding 'id' "
                           f"(and optionally {', '.join(ROSTER_COLUMNS[1:])})")
    seen = set()
    for number, row in enumerate(rows, 2):
        raw = (row.get("id") or "").strip()
        if not raw or student_id(raw) != raw:
            raise GradingError(f"roster {path}, line {number}: id {raw!r} must be non-empty "
                               "and use only letters, digits, '.', '_' or '-'")
        if raw in seen:
            raise GradingError(f"roster {path}, line {number}: id {raw!r} appears twice")
        seen.add(raw)
    return rows


def import_roster(path: str | os.PathLike, course_dir: str | os.PathLike = ".") -> int:
    """Add or update every student of the roster in the gradebook; returns the count."""
    rows = read_roster(path)
    with open_gradebook(config(course_dir).CourseDirectory.db_url) as gb:
        for row in rows:
            fields = {k: (row.get(k) or "").strip() or None for k in ROSTER_COLUMNS[1:]}
            gb.update_or_create_student(row["id"].strip(), **fields)
    return len(rows)


def roster_by_lms_id(course_dir: str | os.PathLike = ".") -> dict[str, str]:
    """``{LMS user id: student id}`` of the gradebook's students (empty without one)."""
    cfg = config(course_dir)
    if gradebook_missing(cfg, course_root(course_dir)):
        return {}
    with open_gradebook(cfg.CourseDirectory.db_url) as gb:
        return {str(s.lms_user_id): s.id for s in gb.students if s.lms_user_id}


# --------------------------------------------------------------- deadlines and lateness

def deadline(cfg, lab: str) -> datetime | None:
    """The lab's deadline (UTC) from ``c.Course.deadlines``, or None."""
    text = dict(cfg.get("Course", {}).get("deadlines", {}) or {}).get(lab)
    if not text:
        return None
    from nbgrader.utils import parse_utc
    try:
        return parse_utc(text)
    except (ValueError, OverflowError) as error:
        raise GradingError(f"c.Course.deadlines[{lab!r}] = {text!r} is not a date "
                           "(e.g. '2027-01-29 23:59:00 Europe/Berlin')") from error


def submitted_at(folder: Path | None) -> datetime | None:
    """When a submission was handed in: its ``timestamp.txt`` (UTC), or None."""
    stamp = folder / "timestamp.txt" if folder else None
    if stamp is None or not stamp.is_file():
        return None
    from nbgrader.utils import parse_utc
    try:
        return parse_utc(stamp.read_text(encoding="utf-8").strip())
    except (ValueError, OverflowError):
        return None


@functools.cache
def _plugin_class():
    nbgrader()
    from nbgrader.plugins import LateSubmissionPlugin
    from traitlets import Float, Int

    class PercentPerDay(LateSubmissionPlugin):
        """Each started day late costs ``percent_per_day`` % of the lab's points; later
        than ``max_days_late`` days, the lab scores 0. ``late_submission_penalty`` gets
        the lab's maximum score as ``score`` (the penalty does not depend on what the
        student scored, so it stays right when written answers are graded later)."""

        percent_per_day = Float(10.0, help="% of the lab's points per started day late"
                                ).tag(config=True)
        max_days_late = Int(7, help="days after which a late lab scores 0").tag(config=True)

        def late_submission_penalty(self, student_id, score, total_seconds_late):
            if total_seconds_late <= 0:
                return 0.0
            days = math.ceil(total_seconds_late / DAY)
            if days > self.max_days_late:
                return float(score)
            return min(float(score), score * self.percent_per_day / 100 * days)

    return PercentPerDay


def lateness(cfg, lab: str, folder: Path | None, max_score: float) -> dict:
    """``{"timestamp", "seconds_late", "penalty"}`` of one submission (zeros when the lab
    has no deadline or the submission no time)."""
    due, handed_in = deadline(cfg, lab), submitted_at(folder)
    if due is None or handed_in is None:
        return {"timestamp": handed_in.isoformat() if handed_in else None,
                "seconds_late": 0.0, "penalty": 0.0}
    late = max(0.0, (handed_in - due).total_seconds())
    plugin = _plugin_class()(config=cfg)
    penalty = plugin.late_submission_penalty(None, max_score, late) if late else 0.0
    return {"timestamp": handed_in.isoformat(), "seconds_late": late,
            "penalty": float(penalty or 0.0)}


# ---------------------------------------------------------------------- LMS grade export

def lms_export(kind: str, to: str | os.PathLike, course_dir: str | os.PathLike = ".") -> Path:
    """Grades in the upload format of ``kind`` (``canvas`` or ``moodle``), one row per
    student, one column per lab (score after the late penalty)."""
    if kind not in ("canvas", "moodle"):
        raise GradingError(f"unknown LMS format {kind!r}: use canvas or moodle")
    root = course_root(course_dir)
    nbgrader()
    from nbgrader.api import MissingEntry
    with open_gradebook(config(course_dir).CourseDirectory.db_url) as gb:
        labs = [a.name for a in gb.assignments]
        students = sorted(gb.students, key=lambda s: s.id)
        rows = []
        for student in students:
            scores = {}
            for lab in labs:
                try:
                    sub = gb.find_submission(lab, student.id)
                    scores[lab] = max(0.0, sub.score - (sub.late_submission_penalty or 0.0))
                except MissingEntry:
                    scores[lab] = 0.0
            rows.append((student, scores))
        points = {a.name: a.max_score for a in gb.assignments}
    dest = Path(to) if Path(to).is_absolute() else root / to
    with open(dest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if kind == "canvas":  # Canvas "Import" of the gradebook: these five columns first
            writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *labs])
            writer.writerow(["Points Possible", "", "", "", "", *(f"{points[l]:g}" for l in labs)])
            for student, scores in rows:
                name = ", ".join(p for p in (student.last_name, student.first_name) if p)
                writer.writerow([name or student.id, student.lms_user_id or "", student.id,
                                 student.id, "", *(f"{scores[l]:g}" for l in labs)])
        else:  # Moodle "Import grades from CSV": map "ID number" or "Email address"
            writer.writerow(["ID number", "Email address", "First name", "Last name", *labs])
            for student, scores in rows:
                writer.writerow([student.id, student.email or "", student.first_name or "",
                                 student.last_name or "", *(f"{scores[l]:g}" for l in labs)])
    return dest


# ----------------------------------------------------------------- solutions after deadline

def release_solutions(lab: str, course_dir: str | os.PathLike = ".", now: datetime | None = None,
                      force: bool = False) -> Path:
    """``solutions_html/<lab>.html``: the model solution without hidden tests, refused
    before the lab's deadline (``c.Course.deadlines``) unless ``force``."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbgrader.utils import parse_utc

    (lab,) = check_labs([lab], course_dir)
    root = course_root(course_dir)
    due = deadline(config(course_dir), lab)
    now = parse_utc(now or datetime.utcnow())
    if not force and (due is None or now < due):
        when = f"before its deadline ({due:%Y-%m-%d %H:%M} UTC)" if due else \
            "with no deadline set in c.Course.deadlines"
        raise GradingError(f"refusing to release the solutions of {lab} {when}; pass --force "
                           "to release them anyway")
    nb = nbformat.read(root / "solutions" / lab / f"{lab}_lab.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = re.sub(rf"{re.escape(HIDDEN_BEGIN)}.*?{re.escape(HIDDEN_END)}\n?",
                             "", cell.source, flags=re.S)
        cell.source = re.sub(rf"^[ \t]*(?:{SOLUTION_BEGIN}|{SOLUTION_END})[ \t]*\n?", "",
                             cell.source, flags=re.M)
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(
        nb, resources={"metadata": {"name": html.escape(f"{lab} lab: solutions")}})
    dest = root / "solutions_html" / f"{lab}.html"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(body, encoding="utf-8")
    return dest
