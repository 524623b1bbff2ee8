"""Autograde a class: every submission in its own sandbox, several at once.

`autograde` collects the submissions, grades them in ``jobs`` parallel sandboxes (worker
threads that each drive one sandbox process), and records each result from the main
thread as it arrives -- one writer to the gradebook. A tqdm bar counts students.
Submissions already graded (same notebook, same lab) are skipped unless ``force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from . import execute, sandbox
from .collect import Submission, find
from .course_ops import deadline, lateness, roster_by_lms_id
from .course import GradingError, check_labs, config, course_root, release
from .gradebook import FORMAT, is_done, load_result, open_gradebook, record, save_result
from .notebooks import Lab, hidden_lines, merge, meta, read_submission, role, source


def limits_from_config(cfg, timeout: float | None = None) -> sandbox.Limits:
    """`sandbox.Limits` from ``nbgrader_config.py`` (``c.Execute.timeout`` per cell,
    ``c.Sandbox.*`` for the rest), ``timeout`` overriding the per-cell limit."""
    values = {k: v for k, v in dict(cfg.get("Sandbox", {})).items()
              if k in sandbox.Limits.__dataclass_fields__}
    values["timeout"] = timeout or cfg.Execute.get("timeout", sandbox.Limits.timeout)
    try:
        return sandbox.Limits(**values)
    except ValueError as error:
        raise GradingError(str(error)) from error


def _empty_tests(lab: Lab, status: str) -> dict:
    return {meta(c)["grade_id"]: {"points": 0.0, "max": float(meta(c).get("points", 0)),
                                  "status": status, "detail": ""} for c in lab.tests()}


def grade_one(lab: Lab, sub: Submission, limits: sandbox.Limits, slot: int,
              sandboxed: bool = True) -> dict:
    """Grade one submission (no gradebook access): the result dict `record` stores."""
    raw = sub.notebook.read_bytes() if sub.notebook else b""
    result = {"format": FORMAT, "student": sub.student, "lab": lab.name,
              "submission_sha256": hashlib.sha256(raw).hexdigest(), "lab_sha256": lab.digest,
              "flags": [], "tests": _empty_tests(lab, "not run"), "cells": {}, "output": "",
              "seconds": 0.0}
    if sub.notebook is None:
        result["status"] = f"no {lab.name}_lab.ipynb in the submission: graded 0"
        return result
    try:
        merged = merge(lab, read_submission(sub.notebook))
    except ValueError as error:
        result["status"] = f"{error}: graded 0"
        result["flags"].append(str(error))
        return result
    run = execute.run(merged, sub.folder, limits, slot, sandboxed)
    result.update(flags=merged.flags + run.flags, output=run.output,
                  seconds=round(run.seconds, 1))
    for index, cell in enumerate(merged.cells):
        outcome = run.cells.get(index)
        if outcome is None:
            continue
        result["cells"][str(index)] = vars(outcome)
        if role(cell) == "test":
            result["tests"][meta(cell)["grade_id"]] = cell_outcome(cell, outcome)
    timeouts = sum(c["status"] == "timeout" for c in result["cells"].values())
    result["status"] = "ok" + (f", {timeouts} cell(s) timed out" if timeouts else "")
    return result


def cell_outcome(cell: dict, outcome: execute.CellResult) -> dict:
    """Points and a student-safe explanation of a test cell's outcome: the error and its
    message (a hidden test's message, never its source or line number)."""
    points = float(meta(cell).get("points", 0))
    passed = outcome.status == "ok"
    error = f"{outcome.ename}: {outcome.evalue}" if outcome.evalue else outcome.ename
    if passed:
        detail = ""
    elif outcome.status == "not run":
        detail = "not run (the notebook stopped before this test)"
    elif outcome.status == "timeout":
        detail = f"timeout: {outcome.evalue}"
    elif outcome.lineno and outcome.lineno not in (hidden := hidden_lines(source(cell))):
        shown = outcome.lineno - sum(line < outcome.lineno for line in hidden)
        detail = f"line {shown}: {error}"  # counted in the student's copy of the cell
    elif outcome.lineno:
        detail = f"hidden test: {error}"
    else:
        detail = error
    detail = detail[:600]
    return {"points": points if passed else 0.0, "max": points,
            "status": "passed" if passed else "failed", "detail": detail}


def _write_autograded(root: Path, lab: Lab, sub: Submission, result: dict) -> None:
    """The merged notebook with errors as outputs, for nbgrader's formgrader."""
    if sub.notebook is None:
        return
    try:
        merged = merge(lab, read_submission(sub.notebook))
    except ValueError:
        return
    cells = []
    for index, cell in enumerate(merged.cells):
        cell = dict(cell, source=source(cell))
        cells.append(cell)
        if cell["cell_type"] == "code":
            cell.update(outputs=[], execution_count=None)
            outcome = result["cells"].get(str(index))
            if outcome and outcome["status"] != "ok":
                cell["outputs"] = [{"output_type": "error",
                                    "ename": outcome["ename"] or outcome["status"],
                                    "evalue": outcome["evalue"], "traceback": []}]
        elif role(cell) == "manual" and (rubric := lab.rubric(meta(cell).get("grade_id"))):
            cells.append({"cell_type": "markdown", "metadata": {}, "source":
                          "**For the grader** (rubric and model answer from solutions/; "
                          "not part of the student's feedback)\n\n" + rubric})
    nb = dict(lab.solution, cells=cells)
    path = root / "autograded" / sub.student / lab.name / f"{lab.name}_lab.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def autograde(submissions: str | os.PathLike, lab: str | None = None,
              course_dir: str | os.PathLike = ".", timeout: float | None = None,
              jobs: int | None = None, sandboxed: bool = True, force: bool = False,
              progress: bool = True) -> list[dict]:
    """Grade every submission of ``lab`` (or of every lab) in ``submissions``.

    ``submissions``: a folder laid out as nbgrader's ``submitted/`` or an LMS zip (see
    `collect`). ``jobs``: parallel sandboxes (default: number of cores). ``sandboxed``
    False runs student code with resource limits only (refused unless asked for).
    Returns one result dict per submission (see `grade_one`), in (lab, student) order,
    and prints a score table.
    """
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise GradingError(f"--jobs must be a positive integer, got {jobs!r}")
    if sandboxed:
        try:
            sandbox.bubblewrap()
        except sandbox.SandboxUnavailable as error:
            raise GradingError(str(error)) from error
    root = course_root(course_dir)
    cfg = config(course_dir)
    limits = limits_from_config(cfg, timeout)
    names = check_labs([lab] if lab else None, course_dir)
    found = find(submissions, names, root, cfg.FileNameCollectorPlugin.get("named_regexp", ""),
                 roster_by_lms_id(course_dir))
    used = sorted({s.lab for s in found})
    _ensure_released(used, root, cfg, course_dir)
    labs = {name: Lab.load(root, name) for name in used}
    jobs = jobs or os.cpu_count() or 1

    results, todo = {}, []
    for sub in found:
        digest = hashlib.sha256(sub.notebook.read_bytes() if sub.notebook else b"").hexdigest()
        old = load_result(root, sub.student, sub.lab)
        if not force and is_done(old, digest, labs[sub.lab]):
            results[(sub.lab, sub.student)] = dict(old, resumed=True)
        else:
            todo.append(sub)
    if results:
        print(f"{len(results)} submission(s) already graded (unchanged): skipped; "
              "--force regrades them.")
    _grade_parallel(todo, labs, limits, jobs, sandboxed, root, cfg, results, progress)
    rows = [results[(s.lab, s.student)] for s in found]
    print_table(rows, labs)
    return rows


def _ensure_released(names: list[str], root: Path, cfg, course_dir) -> None:
    """Release labs the gradebook or labs/ does not know yet (their cells and points)."""
    from nbgrader.api import MissingEntry
    with open_gradebook(cfg.CourseDirectory.db_url) as gb:
        missing = []
        for name in names:
            try:
                gb.find_assignment(name)
            except MissingEntry:
                missing.append(name)
    missing += [n for n in names if n not in missing
                and not (root / "labs" / n / f"{n}_lab.ipynb").is_file()]
    if missing:
        print(f"Releasing {', '.join(missing)} first (not in the gradebook yet).")
        release(missing, course_dir)
    with open_gradebook(cfg.CourseDirectory.db_url) as gb:  # due dates for grades.csv
        for name in names:
            if (due := deadline(cfg, name)) is not None:
                gb.update_or_create_assignment(name, duedate=due)


def _grade_parallel(todo, labs, limits, jobs, sandboxed, root, cfg, results, progress):
    """Run `grade_one` in ``jobs`` threads; record each result from this thread only."""
    if not todo:
        return
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)

    def work(sub):
        slot = slots.get()
        try:
            result = grade_one(labs[sub.lab], sub, limits, slot, sandboxed)
            result.update(lateness(cfg, sub.lab, sub.folder, max_points(labs[sub.lab])))
            return result
        except Exception as error:  # a grader fault: report it, grade the others
            return {"student": sub.student, "lab": sub.lab, "flags": [],
                    "tests": _empty_tests(labs[sub.lab], "not run"),
                    "status": f"NOT GRADED (grader error {type(error).__name__}: {error}); "
                              "rerun to retry", "grader_error": True}
        finally:
            slots.put(slot)

    bar = tqdm(total=len(todo), unit="student", desc="grading", disable=not progress,
               file=sys.stdout, dynamic_ncols=True)
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(work, sub): sub for sub in todo}
        with open_gradebook(cfg.CourseDirectory.db_url) as gb:
            for future in as_completed(futures):
                sub = futures[future]
                result = results[(sub.lab, sub.student)] = future.result()
                if not result.get("grader_error"):  # nothing recorded: a rerun retries it
                    record(gb, labs[sub.lab], result)
                    _write_autograded(root, labs[sub.lab], sub, result)
                    save_result(root, result)
                bar.set_postfix_str(f"{sub.student}: {_score(result)}")
                bar.update()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        execute.kill_all()
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()


def max_points(lab: Lab) -> float:
    """All points of a lab: autograded tests and hand-graded answers."""
    return sum(float(meta(c).get("points", 0)) for c in lab.solution["cells"]
               if role(c) in ("test", "manual"))


def _score(result: dict) -> str:
    tests = result["tests"].values()
    return f"{sum(t['points'] for t in tests):g}/{sum(t['max'] for t in tests):g}"


def print_table(rows: list[dict], labs: dict[str, Lab]) -> None:
    """Per-submission table: autograded score, points left to grade by hand, status."""
    header = f"{'student':<20} {'lab':<16} {'autograded':>11} {'manual':>7}  status"
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        manual = sum(float(meta(c).get("points", 0)) for c in labs[row["lab"]].solution["cells"]
                     if role(c) == "manual")
        status = "already graded" if row.get("resumed") else row["status"]
        if row.get("penalty"):
            status += (f", {row['seconds_late'] / 86400:.1f} days late: "
                       f"-{row['penalty']:g} points")
        flags = f" [flagged: {'; '.join(row['flags'])}]" if row["flags"] else ""
        print(f"{row['student']:<20} {row['lab']:<16} {_score(row):>11} {manual:>7g}  "
              f"{status}{flags}")
