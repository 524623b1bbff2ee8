"""Command line of the grading tools (run from the repository root, or pass --course-dir).

    python -m helpers.grading release [LAB ...]           # solutions/<lab>/ -> labs/<lab>/
    python -m helpers.grading grade SUBMISSIONS [--lab LAB] [--jobs N] [--timeout S]
    python -m helpers.grading autograde SUBMISSIONS ...  # grading only (no reports)
    python -m helpers.grading feedback [--lab LAB]        # feedback/<student>/<lab>/*.html
    python -m helpers.grading export [--to grades.csv] [--format csv|canvas|moodle]
    python -m helpers.grading roster students.csv         # enrolled students -> gradebook
    python -m helpers.grading solutions LAB [--force]     # solutions_html/<lab>.html after the deadline
    python -m helpers.grading summary [--lab LAB]         # summary/<lab>.png, <lab>_tests.csv
    python -m helpers.grading check NOTEBOOK              # a student's dry run before submitting
    python -m helpers.grading exchange setup|release|collect|feedback [LAB]   # on a JupyterHub

SUBMISSIONS is a folder laid out like nbgrader's submitted/ folder,
``<student>/<lab>/<lab>_lab.ipynb``, or a zip downloaded from an LMS whose file names
match ``c.FileNameCollectorPlugin.named_regexp`` in nbgrader_config.py. ``grade`` runs
every submission in a bubblewrap sandbox (``--jobs`` at once, default: the number of
cores), writes the gradebook, the feedback, grades.csv and the per-lab summary. It
refuses to run without bubblewrap unless --unsandboxed is given. Re-running skips
submissions already graded (an interrupted run resumes); --force regrades them.
"""

from __future__ import annotations

import argparse
import sys
import time

from .batch import autograde
from .course import GradingError, course_root, release
from .course_ops import import_roster, lms_export, release_solutions
from .reports import export, feedback, summary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course-dir", default=".",
                        help="folder holding nbgrader_config.py (default: current folder)")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("release", help="regenerate labs/ from solutions/")
    p.add_argument("labs", nargs="*", metavar="LAB", help="lab names (default: all)")
    for name, text in (("grade", "grade a class: autograde, feedback, grades.csv, summary"),
                       ("autograde", "autograde a class (no reports)")):
        p = commands.add_parser(name, help=text)
        p.add_argument("submissions", help="folder <student>/<lab>/<lab>_lab.ipynb or LMS zip")
        p.add_argument("--lab", help="grade only this lab")
        p.add_argument("--jobs", type=int, help="parallel sandboxes (default: number of cores)")
        p.add_argument("--timeout", type=float, help="seconds per cell (default: config)")
        p.add_argument("--force", action="store_true", help="regrade graded submissions too")
        p.add_argument("--unsandboxed", action="store_true",
                       help="run student code WITHOUT the sandbox (resource limits only)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument("--to", default="grades.csv", help="grades CSV (grade only)")
    p = commands.add_parser("feedback", help="write HTML feedback for graded submissions")
    p.add_argument("--lab", help="only this lab")
    p = commands.add_parser("export", help="export grades to CSV")
    p.add_argument("--to", default="grades.csv", help="CSV file (default: grades.csv)")
    p.add_argument("--format", choices=("csv", "canvas", "moodle"), default="csv",
                   help="nbgrader's CSV (default), or an LMS's grade-import format")
    p = commands.add_parser("roster", help="import the enrolled students (CSV: id, "
                                           "first_name, last_name, email, lms_user_id)")
    p.add_argument("csv", help="roster CSV file")
    p = commands.add_parser("solutions", help="release a lab's model solutions as HTML "
                                              "(after its deadline)")
    p.add_argument("lab", help="lab name")
    p.add_argument("--force", action="store_true", help="release even before the deadline")
    p = commands.add_parser("summary", help="score distribution and pass rates per test")
    p.add_argument("--lab", help="only this lab")
    p = commands.add_parser("exchange", help="nbgrader's exchange on a JupyterHub: setup, "
                                             "release, collect, feedback")
    p.add_argument("step", choices=("setup", "release", "collect", "feedback"))
    p.add_argument("lab", nargs="?", help="lab name (all steps but setup)")
    p = commands.add_parser("check", help="students: run your lab notebook as the grader does "
                                          "and see the score of the visible tests")
    p.add_argument("notebook", help="your notebook, e.g. labs/robustness/robustness_lab.ipynb")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    return parser


def _reports(labs: list[str], args) -> None:
    """Feedback, grades CSV and summaries after grading."""
    root = course_root(args.course_dir)
    written = feedback(args.lab, args.course_dir)
    print(f"feedback: {len(written)} file(s) in {root / 'feedback'}")
    print(f"grades: {export(args.to, args.course_dir)}")
    for lab in labs:
        table, image = summary(lab, args.course_dir)
        print(f"summary of {lab}: {image} and {table}")
        print(open(table, encoding="utf-8").read().rstrip())


def _exchange(args) -> None:
    from . import exchange
    if args.step == "setup":
        print(f"exchange folder ready: {exchange.setup(args.course_dir)}")
        return
    if not args.lab:
        raise GradingError(f"exchange {args.step} needs a lab name")
    step = {"release": exchange.release_lab, "collect": exchange.collect,
            "feedback": exchange.return_feedback}[args.step]
    step(args.lab, args.course_dir)
    print(f"{args.step}: {args.lab} done")


def _check(args) -> int:
    """The student's check: 0 when every visible test passes, 1 when one fails, 2 when
    the file is not a lab notebook."""
    from .check import check
    try:
        got, possible, lines = check(args.notebook, args.course_dir, args.timeout)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if got == possible else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    start = time.monotonic()
    if args.command == "check":
        return _check(args)
    try:
        if args.command == "release":
            root = course_root(args.course_dir)
            for path in release(args.labs, args.course_dir):
                print(f"released {path.relative_to(root)}")
        elif args.command in ("grade", "autograde"):
            rows = autograde(args.submissions, args.lab, args.course_dir, args.timeout,
                             args.jobs, not args.unsandboxed, args.force,
                             not args.no_progress)
            flagged = sum(bool(row["flags"]) for row in rows)
            if flagged:
                print(f"\n{flagged} submission(s) flagged: review them (see the table).")
            if args.command == "grade":
                _reports(sorted({row["lab"] for row in rows}), args)
            if any(row.get("grader_error") for row in rows):
                print("Some submissions were not graded (grader error, see the table); "
                      "run the same command again to retry them.", file=sys.stderr)
                return 1
        elif args.command == "feedback":
            for path in feedback(args.lab, args.course_dir):
                print(path.relative_to(course_root(args.course_dir)))
        elif args.command == "export":
            if args.format == "csv":
                print(export(args.to, args.course_dir))
            else:
                print(lms_export(args.format, args.to, args.course_dir))
        elif args.command == "exchange":
            _exchange(args)
        elif args.command == "roster":
            count = import_roster(args.csv, args.course_dir)
            print(f"{count} student(s) in the gradebook from {args.csv}")
        elif args.command == "solutions":
            print(release_solutions(args.lab, args.course_dir, force=args.force))
        elif args.command == "summary":
            from .course import check_labs
            for lab in check_labs([args.lab] if args.lab else None, args.course_dir):
                try:
                    print(*summary(lab, args.course_dir))
                except GradingError as error:
                    print(f"{lab}: {error}")
    except GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished submissions are saved; run the same command again "
              "to grade the rest.", file=sys.stderr)
        return 130
    print(f"({args.command}: {time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
