"""``python -m helpers.grading check NOTEBOOK``: a student's own dry run before submitting.

Runs the notebook the way the grader does -- the released lab's test and locked cells
(when the kit's ``labs/`` folder is at hand, else the notebook's own), the student's answer
cells, one cell at a time in the grader's runner, with the lab's off-limits reference
functions watched -- and prints the score of the visible tests, part by part. It does
not need nbgrader or bubblewrap: the student's own code runs on the student's own
machine, with the grader's resource limits where ``prlimit`` exists.

It also points out what would cost points at grading time although the notebook works
in Jupyter: ``%magic``/``!shell`` lines in answer cells, edited or deleted test cells, a
renamed file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import execute, sandbox
from .batch import cell_outcome
from .notebooks import Lab, merge, meta, read_submission, role, source

MAGIC = re.compile(r"^\s*[%!]")


def lab_name(path: Path) -> str:
    """The lab a notebook belongs to, from its file name ``<lab>_lab.ipynb``."""
    match = re.fullmatch(r"(.+?)_lab(?: ?\(\d+\)|-\d+)?\.ipynb", path.name)
    if not match:
        raise ValueError(f"{path.name}: a lab notebook is named <lab>_lab.ipynb (e.g. "
                         "robustness_lab.ipynb); the grader looks for that name, so keep it")
    return match[1]


def released_lab(name: str, notebook: dict, course_dir: str | os.PathLike) -> Lab:
    """The released lab (``labs/<name>/`` of the course folder) to check against, or the
    student's notebook itself when the kit's folder is not at hand (e.g. on Colab)."""
    path = Path(course_dir) / "labs" / name / f"{name}_lab.ipynb"
    released = read_submission(path) if path.is_file() else notebook
    return Lab(name, released, released, "")


def magic_lines(notebook: dict) -> list[str]:
    """Answer-cell lines the grader cannot run (IPython magics and shell escapes)."""
    found = []
    for cell in notebook["cells"]:
        if role(cell) != "answer":
            continue
        for number, line in enumerate(source(cell).splitlines(), 1):
            if MAGIC.match(line):
                found.append(f"answer cell {meta(cell).get('grade_id')}, line {number}: "
                             f"{line.strip()!r}")
    return found


def check(path: str | os.PathLike, course_dir: str | os.PathLike = ".",
          timeout: float = 120.0) -> tuple[float, float, list[str]]:
    """Run the notebook at ``path`` as the grader would; returns ``(points, possible,
    report lines)`` for the visible tests. Raises ValueError for a file that is not a
    lab notebook."""
    path = Path(path)
    name = lab_name(path)
    notebook = read_submission(path)
    lab = released_lab(name, notebook, course_dir)
    merged = merge(lab, notebook)
    lines = [f"checking {path} (lab {name!r}; this takes as long as running the notebook)"]
    problems = [f"will fail at grading: {line}" for line in magic_lines(notebook)]
    problems += [f"the grader will note: {flag}" for flag in merged.flags]
    run = execute.run(merged, path.parent, sandbox.Limits(timeout=timeout), sandboxed=False)
    problems += [f"the run was stopped: {flag}" for flag in run.flags]
    got = possible = 0.0
    for index, cell in enumerate(merged.cells):
        if role(cell) != "test" or index not in run.cells:
            continue
        outcome = cell_outcome(cell, run.cells[index])
        if not any(line.strip() and not line.strip().startswith("#")
                   for line in source(cell).splitlines()):
            lines.append(f"  ---- {meta(cell)['grade_id']:<28} {outcome['max']:g} point(s), "
                         "hidden: graded only by the grader")
            continue
        got, possible = got + outcome["points"], possible + outcome["max"]
        mark = "ok  " if outcome["status"] == "passed" else "FAIL"
        lines.append(f"  {mark} {meta(cell)['grade_id']:<28} {outcome['points']:g}/"
                     f"{outcome['max']:g}  {outcome['detail']}".rstrip())
    lines += problems
    lines.append(f"visible tests: {got:g} of {possible:g} points. The grader also runs hidden "
                 "tests, so the final score can be lower.")
    return got, possible, lines
