"""Instructor tools for the labs: release, autograde, feedback and grade export.

A thin layer over nbgrader (the ``grading`` extra: ``pip install -e .[grading]``). The
course directory is the folder holding ``nbgrader_config.py`` (the repository root);
assignment id = chapter name; see ``nbgrader_config.py`` for the folder mapping.

Command line (run from the repository root, or pass ``--course-dir``)::

    python -m helpers.grading release [LAB ...]        # solutions/<lab>/ -> labs/<lab>/
    python -m helpers.grading autograde SUBMISSIONS [--lab LAB] [--timeout SECONDS]
    python -m helpers.grading feedback [--lab LAB]     # feedback/<student>/<lab>/*.html
    python -m helpers.grading export [--to grades.csv]

``SUBMISSIONS`` is laid out like nbgrader's ``submitted/`` folder::

    SUBMISSIONS/<student>/<lab>/<lab>_lab.ipynb       e.g. alice/generalization/generalization_lab.ipynb

Autograding copies each submission into the course's ``submitted/`` folder (where the
formgrader looks for it), grades one student at a time, and never stops the batch
because one submission fails: failures are listed in the score table and the exit
status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"
LAYOUT = "SUBMISSIONS/<student>/<lab>/<lab>_lab.ipynb"
# Notebook-level metadata kept in released labs; everything else (widget state, editor
# settings, papermill records, the nbgrader toolbar) is instructor-side noise.
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")


class GradingError(RuntimeError):
    """A problem the instructor has to fix (message says how); no traceback needed."""


# ----------------------------------------------------------------------------- setup

def _nbgrader():
    """Import nbgrader lazily: it is an optional dependency (the ``grading`` extra)."""
    try:
        import nbgrader.apps  # noqa: F401
    except ImportError as error:
        raise GradingError(
            "nbgrader is not installed. Install the grading tools with: "
            "pip install -e .[grading]") from error
    # nbgrader runs the `alembic` console script (via PATH) when it creates a gradebook;
    # make it findable when this interpreter's environment is not activated.
    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    import nbgrader
    return nbgrader


def course_root(course_dir: str | os.PathLike = ".") -> Path:
    """The course directory: ``course_dir`` made absolute, checked to hold the config."""
    root = Path(course_dir).resolve()
    if not (root / CONFIG_FILE).is_file():
        raise GradingError(
            f"{root} is not the course directory (no {CONFIG_FILE} there). Run from the "
            "repository root or pass --course-dir.")
    return root


def available_labs(course_dir: str | os.PathLike = ".") -> list[str]:
    """Lab names (= chapter folders) found in ``solutions/``, sorted."""
    solutions = course_root(course_dir) / "solutions"
    if not solutions.is_dir():
        return []
    return sorted(p.name for p in solutions.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")))


def _check_labs(labs, course_dir) -> list[str]:
    """``labs`` (None = all) validated against ``solutions/``; raises on unknown names."""
    known = available_labs(course_dir)
    if not labs:
        if not known:
            raise GradingError("no labs found: solutions/ has no chapter folders.")
        return known
    unknown = [lab for lab in labs if lab not in known]
    if unknown:
        raise GradingError(f"unknown lab {', '.join(map(repr, unknown))}; "
                           f"labs in solutions/: {', '.join(known) or '(none)'}")
    return list(labs)


def _config(course_dir, timeout: int | None = None):
    """The course's nbgrader configuration, with an optional per-cell timeout override."""
    from traitlets.config.loader import PyFileConfigLoader
    root = course_root(course_dir)
    config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    if timeout is not None:
        if timeout <= 0:
            raise GradingError(f"--timeout must be a positive number of seconds, got {timeout}")
        config.Execute.timeout = int(timeout)
    return config


def _api(course_dir, timeout: int | None = None):
    """An ``nbgrader.apps.NbGraderAPI`` for the course (logs are captured per call)."""
    _nbgrader()
    from nbgrader.apps import NbGraderAPI
    return NbGraderAPI(config=_config(course_dir, timeout))


def _fail(what: str, result: dict) -> GradingError:
    """A GradingError from a failed NbGraderAPI result, with nbgrader's log tail."""
    log = (result.get("log") or "") + (result.get("error") or "")
    tail = "\n".join(log.strip().splitlines()[-25:])
    return GradingError(f"{what} failed. nbgrader said:\n{tail}")


# --------------------------------------------------------------------------- release

def normalize_notebook(path: str | os.PathLike, source: str | os.PathLike | None = None) -> None:
    """Rewrite a released notebook deterministically (regenerating gives no git diff).

    Clears outputs and execution counts, keeps only ``KEPT_NOTEBOOK_METADATA`` (without
    ``language_info.version``) and gives every cell the id of the matching cell in
    ``source`` (the solution notebook), or a stable id derived from its position, so
    that no random cell id is ever committed.
    """
    import nbformat
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    src_cells = nbformat.read(source, as_version=4).cells if source else []
    same_shape = len(src_cells) == len(nb.cells)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEPT_NOTEBOOK_METADATA}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"].pop("version", None)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if "id" in cell or nb.nbformat_minor >= 5:
            src_id = src_cells[index].get("id") if same_shape else None
            cell["id"] = src_id or f"cell-{index}"
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def release(labs: list[str] | None = None, course_dir: str | os.PathLike = ".") -> list[Path]:
    """Regenerate ``labs/<lab>/`` from ``solutions/<lab>/`` (all labs by default).

    Runs ``nbgrader generate_assignment --force`` (which also records the lab's cells
    and points in the gradebook, needed before autograding), then normalizes the
    released notebooks. Returns the written notebook paths.
    """
    labs = _check_labs(labs, course_dir)
    api = _api(course_dir)
    root = course_root(course_dir)
    written = []
    for lab in labs:
        result = api.generate_assignment(lab, force=True, create=True)
        if not result["success"]:
            raise _fail(f"releasing {lab}", result)
        for notebook in sorted((root / "labs" / lab).glob("*.ipynb")):
            normalize_notebook(notebook, root / "solutions" / lab / notebook.name)
            written.append(notebook)
    return written


# ------------------------------------------------------------------------- autograde

def find_submissions(submissions: str | os.PathLike, labs: list[str]) -> list[tuple[str, str, Path]]:
    """``(student, lab, folder)`` for every ``SUBMISSIONS/<student>/<lab>/`` folder.

    Prints a warning for student folders holding no known lab folder. Raises
    ``GradingError`` (naming the expected layout) when the folder is missing or holds no
    submission of the requested labs.
    """
    folder = Path(submissions)
    if not folder.is_dir():
        raise GradingError(f"submissions folder {folder} does not exist; expected {LAYOUT}")
    found = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if student_dir.name.startswith("."):
            continue
        mine = [(student_dir.name, lab, student_dir / lab) for lab in labs
                if (student_dir / lab).is_dir()]
        if not mine:
            content = ", ".join(sorted(p.name for p in student_dir.iterdir())[:5]) or "empty"
            print(f"warning: ignoring {student_dir.name}/ ({content}): no folder named "
                  f"{' or '.join(labs)}; expected {LAYOUT}", file=sys.stderr)
        found += mine
    if not found:
        seen = sorted(str(p.relative_to(folder)) for p in folder.glob("*/*"))[:10]
        raise GradingError(
            f"no submissions of {', '.join(labs)} in {folder}; expected {LAYOUT}, "
            f"found: {', '.join(seen) or 'nothing'}")
    return found


def _timed_out_cells(notebook: Path) -> int:
    """How many cells of an autograded notebook were stopped by the per-cell timeout."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return sum(any(out.get("ename") == "CellTimeoutError" for out in cell.get("outputs", []))
               for cell in nb.get("cells", []))


def scores(lab: str, course_dir: str | os.PathLike = ".") -> dict[str, dict]:
    """Scores per student for one lab, read from the gradebook.

    Returns ``{student: {"auto", "auto_max", "manual_max", "needs_manual", "score",
    "max_score"}}``: ``auto`` sums the autograded test cells (code grade cells that are
    not answer cells), ``needs_manual`` counts answers still waiting for a human.
    """
    _nbgrader()
    from nbgrader.api import Gradebook, GradeCell, MissingEntry
    config = _config(course_dir)
    table = {}
    with Gradebook(config.CourseDirectory.db_url) as gb:
        try:
            submissions = gb.assignment_submissions(lab)
        except MissingEntry:
            return {}
        for submission in submissions:
            row = dict(auto=0.0, auto_max=0.0, manual_max=0.0, needs_manual=0,
                       score=submission.score, max_score=submission.max_score)
            for notebook in submission.notebooks:
                answers = {cell.name for cell in notebook.notebook.solution_cells}
                for grade in notebook.grades:
                    autograded = (isinstance(grade.cell, GradeCell) and grade.cell.cell_type == "code"
                                  and grade.cell.name not in answers)
                    if autograded:
                        row["auto"] += grade.auto_score or 0.0
                        row["auto_max"] += grade.max_score
                    else:
                        row["manual_max"] += grade.max_score
                    row["needs_manual"] += bool(grade.needs_manual_grade)
            table[submission.student_id] = row
    return table


def autograde(submissions: str | os.PathLike, lab: str | None = None,
              course_dir: str | os.PathLike = ".", timeout: int | None = None,
              verbose: bool = False) -> list[dict]:
    """Autograde every ``SUBMISSIONS/<student>/<lab>/`` folder; print a score table.

    Students are created in the gradebook as needed; a lab missing from the gradebook is
    released first. A submission that cannot be graded (kernel crash, a loop that ignores
    the interrupt, a misnamed notebook) is reported and skipped; the rest of the batch is
    graded. ``timeout`` overrides the per-cell limit of ``nbgrader_config.py``;
    ``verbose`` prints nbgrader's log of failed submissions.
    Returns one row per submission: student, lab, status, and the fields of `scores`.
    """
    labs = _check_labs([lab] if lab else None, course_dir)
    found = find_submissions(submissions, labs)
    root = course_root(course_dir)
    api = _api(course_dir, timeout)
    _ensure_in_gradebook(api, sorted({lab for _, lab, _ in found}), course_dir)

    rows = []
    for student, lab_name, folder in found:
        start = time.monotonic()
        status = _grade_one(api, root, student, lab_name, folder, verbose)
        seconds = time.monotonic() - start
        print(f"  {student:<20} {lab_name:<16} {status} ({seconds:.0f} s)", flush=True)
        rows.append(dict(student=student, lab=lab_name, status=status, seconds=seconds))

    by_lab = {name: scores(name, course_dir) for name in {row["lab"] for row in rows}}
    for row in rows:
        row.update(by_lab[row["lab"]].get(row["student"], {}))
    print_table(rows)
    return rows


def _ensure_in_gradebook(api, labs: list[str], course_dir) -> None:
    """Release labs the gradebook does not know yet (autograde needs their cells)."""
    from nbgrader.api import MissingEntry
    gradebook = api.gradebook
    try:
        missing = []
        for lab in labs:
            try:
                gradebook.find_assignment(lab)
            except MissingEntry:
                missing.append(lab)
    finally:
        gradebook.close()
    if missing:
        print(f"Releasing {', '.join(missing)} first (not in the gradebook yet).")
        release(missing, course_dir)


def _grade_one(api, root: Path, student: str, lab: str, folder: Path,
               verbose: bool = False) -> str:
    """Copy one submission into ``submitted/`` and autograde it; returns a status text."""
    expected = folder / f"{lab}_lab.ipynb"
    if not expected.is_file():
        present = ", ".join(sorted(p.name for p in folder.glob("*.ipynb"))) or "no notebook"
        return f"SKIPPED: no {expected.name} (found {present}); expected {LAYOUT}"
    target = root / "submitted" / student / lab
    if target.resolve() != folder.resolve():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(folder, target)
    try:
        result = api.autograde(lab, student, force=True, create=True)
    except Exception as error:  # never let one submission stop the batch
        result = {"success": False, "error": f"{type(error).__name__}: {error}"}
    if not result["success"]:
        log = (result.get("log") or "") + (result.get("error") or "")
        hint = ("the kernel kept running after the timeout interrupt"
                if "Timeout waiting for IOPub" in log else
                "the kernel died" if "DeadKernelError" in log or "Kernel died" in log else
                "see nbgrader's log (rerun with --verbose)")
        if verbose:
            print(log, file=sys.stderr)
        return f"FAILED: {hint}; grade by hand"
    timeouts = _timed_out_cells(root / "autograded" / student / lab / f"{lab}_lab.ipynb")
    return f"ok, {timeouts} cell(s) timed out" if timeouts else "ok"


def print_table(rows: list[dict]) -> None:
    """Print the per-student score table of `autograde` (scores only for graded rows)."""
    header = f"{'student':<20} {'lab':<16} {'autograded':>12} {'manual':>8} {'to grade':>9}  status"
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        if "auto_max" in row and row["status"].startswith("ok"):
            auto = f"{row['auto']:g}/{row['auto_max']:g}"
            manual, pending = f"{row['manual_max']:g}", str(row["needs_manual"])
        else:
            auto, manual, pending = "-", "-", "-"
        print(f"{row['student']:<20} {row['lab']:<16} {auto:>12} {manual:>8} {pending:>9}  "
              f"{row['status']}")


# ---------------------------------------------------------------- feedback and export

def feedback(lab: str | None = None, course_dir: str | os.PathLike = ".") -> list[Path]:
    """Write HTML feedback for every autograded submission (of ``lab``, or of all labs).

    Output: ``feedback/<student>/<lab>/<lab>_lab.html``. Returns the written files.
    """
    labs = _check_labs([lab] if lab else None, course_dir)
    root = course_root(course_dir)
    graded = [name for name in labs if list((root / "autograded").glob(f"*/{name}"))]
    if not graded:
        raise GradingError(f"nothing autograded yet for {', '.join(labs)}; "
                           "run `python -m helpers.grading autograde SUBMISSIONS` first.")
    api = _api(course_dir)
    written = []
    for name in graded:
        result = api.generate_feedback(name, force=True)
        if not result["success"]:
            raise _fail(f"feedback for {name}", result)
        written += sorted((root / "feedback").glob(f"*/{name}/*.html"))
    for path in written:
        print(path.relative_to(root))
    return written


def export(to: str | os.PathLike = "grades.csv", course_dir: str | os.PathLike = ".") -> Path:
    """Export all grades to CSV (nbgrader's CSV exporter): one row per student and lab."""
    root = course_root(course_dir)
    config = _config(course_dir)
    db = root / "gradebook.db"
    if config.CourseDirectory.db_url == f"sqlite:///{db}" and not db.exists():
        raise GradingError("no gradebook.db yet: release and autograde labs first.")
    _nbgrader()
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin
    dest = Path(to) if Path(to).is_absolute() else Path.cwd() / to
    with Gradebook(config.CourseDirectory.db_url) as gb:
        CsvExportPlugin(to=str(dest)).export(gb)
    rows = len(dest.read_text(encoding="utf-8").splitlines()) - 1
    print(f"{dest}: {rows} row(s)")
    return dest


# ------------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m helpers.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course-dir", default=".",
                        help="folder holding nbgrader_config.py (default: current folder)")
    parser.add_argument("--verbose", action="store_true", help="print nbgrader's log on failures")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("release", help="regenerate labs/ from solutions/")
    p.add_argument("labs", nargs="*", metavar="LAB", help="lab names (default: all)")
    p = commands.add_parser("autograde", help="autograde a folder of submissions")
    p.add_argument("submissions", help=f"folder laid out as {LAYOUT}")
    p.add_argument("--lab", help="grade only this lab")
    p.add_argument("--timeout", type=int, help="seconds per cell (default: nbgrader_config.py)")
    p = commands.add_parser("feedback", help="write HTML feedback for autograded submissions")
    p.add_argument("--lab", help="only this lab")
    p = commands.add_parser("export", help="export grades to CSV")
    p.add_argument("--to", default="grades.csv", help="CSV file (default: grades.csv)")
    args = parser.parse_args(argv)
    if not args.verbose:  # known, harmless noise from nbgrader's gradebook and from re-added test cells
        warnings.filterwarnings("ignore", message=".*not in session.*")
        warnings.filterwarnings("ignore", message="Cell is missing an id field")

    start = time.monotonic()
    try:
        if args.command == "release":
            for path in release(args.labs, args.course_dir):
                print(f"released {path.relative_to(course_root(args.course_dir))}")
        elif args.command == "autograde":
            rows = autograde(args.submissions, args.lab, args.course_dir, args.timeout,
                             args.verbose)
            if any(not row["status"].startswith("ok") for row in rows):
                print("\nSome submissions could not be graded (see status).", file=sys.stderr)
                return 1
        elif args.command == "feedback":
            feedback(args.lab, args.course_dir)
        elif args.command == "export":
            export(args.to, args.course_dir)
    except GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"({args.command}: {time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
