"""What runs when a submission is graded: the instructor's lab with the student's answers.

The merged notebook is built from ``solutions/<lab>/<lab>_lab.ipynb`` in its order: every
test and locked cell comes from there (hidden tests included), only the answer cells
(nbgrader ``solution`` cells, matched by ``grade_id``) and the cells a student added come
from the submission. A submission's own copy of a test or locked cell is never run; if
it differs from the released lab, or is missing, the submission is flagged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"


def meta(cell: dict) -> dict:
    """The ``nbgrader`` metadata of a notebook cell (empty for plain cells)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def source(cell: dict) -> str:
    """A cell's source as one string (notebooks store lists of lines or a string)."""
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def role(cell: dict) -> str:
    """``test`` (autograded code test), ``answer`` (student code), ``manual`` (graded by
    hand), ``locked`` (instructor code) or ``text`` (markdown without a grade)."""
    info = meta(cell)
    if info.get("grade") and info.get("solution") or (info.get("task")):
        return "manual"
    if cell.get("cell_type") != "code":
        return "manual" if info.get("grade") else "text"
    if info.get("grade"):
        return "test"
    return "answer" if info.get("solution") else "locked"


def hidden_lines(text: str) -> range:
    """1-based line numbers of the hidden block of a test cell (empty range if none)."""
    lines = text.splitlines()
    begin = next((i for i, l in enumerate(lines, 1) if l.strip() == HIDDEN_BEGIN), None)
    if begin is None:
        return range(0)
    end = next((i for i, l in enumerate(lines, 1) if i > begin and l.strip() == HIDDEN_END),
               len(lines))
    return range(begin, end + 1)


@dataclass
class Lab:
    """The instructor (``solution``) and student (``released``) notebooks of one lab."""

    name: str
    solution: dict
    released: dict
    digest: str

    @classmethod
    def load(cls, root: Path, name: str) -> "Lab":
        import hashlib
        paths = [root / folder / name / f"{name}_lab.ipynb" for folder in ("solutions", "labs")]
        texts = [p.read_bytes() for p in paths]
        return cls(name, json.loads(texts[0]), json.loads(texts[1]),
                   hashlib.sha256(texts[0]).hexdigest())

    def references(self) -> list[str]:
        """Dotted names of the kit's functions that solve a task of this lab (notebook
        metadata ``tai.references``): student code may not call them during tests."""
        return list(self.solution.get("metadata", {}).get("tai", {}).get("references", []))

    def rubric(self, grade_id: str | None) -> str:
        """The instructor's text of a hand-graded answer (its ``BEGIN SOLUTION`` block:
        the rubric and the model answer), or "" if it has none."""
        cell = _find(self.solution, grade_id) if grade_id else None
        text = source(cell) if cell else ""
        if SOLUTION_BEGIN not in text:
            return ""
        return text.split(SOLUTION_BEGIN, 1)[1].split(SOLUTION_END, 1)[0].strip()

    def tests(self) -> list[dict]:
        """The autograded test cells, in order."""
        return [c for c in self.solution["cells"] if role(c) == "test"]

    def released_source(self, grade_id: str) -> str:
        """The student-visible source of a cell (hidden tests removed by the release)."""
        for cell in self.released["cells"]:
            if meta(cell).get("grade_id") == grade_id:
                return source(cell)
        return ""


@dataclass
class Merged:
    """The notebook to grade: cells (nbformat dicts, in order) and what was flagged."""

    cells: list[dict]
    flags: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


def read_submission(path: str | os.PathLike) -> dict:
    """A submitted notebook as a dict; raises ValueError saying why it is not a notebook."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a valid notebook (JSON error: {error})") from error
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a valid notebook (no list of cells)")
    if not all(isinstance(c, dict) and "cell_type" in c for c in nb["cells"]):
        raise ValueError("not a valid notebook (a cell without cell_type)")
    return nb


def merge(lab: Lab, submission: dict) -> Merged:
    """Instructor skeleton + the student's answers and added cells (see module docstring)."""
    flags = []
    known = {meta(c).get("grade_id") for c in lab.solution["cells"]} - {None}
    theirs, added, anchor = {}, {}, None  # added[grade_id or None] = cells after it
    for cell in submission["cells"]:
        grade_id = meta(cell).get("grade_id")
        if grade_id in known and grade_id not in theirs:
            theirs[grade_id], anchor = cell, grade_id
        elif cell.get("cell_type") == "code" and source(cell).strip():
            added.setdefault(anchor, []).append(
                {"cell_type": "code", "metadata": {}, "source": source(cell), "outputs": []})
    cells = list(added.get(None, []))
    for cell in lab.solution["cells"]:
        grade_id = meta(cell).get("grade_id")
        kind = role(cell)
        mine = theirs.get(grade_id)
        if kind in ("answer", "manual"):
            chosen = mine if mine is not None else _find(lab.released, grade_id) or cell
            if mine is None:
                flags.append(f"answer cell {grade_id} is missing (graded as unanswered)")
            cells.append({**cell, "source": source(chosen)})
        else:
            expected = {lab.released_source(grade_id).strip(), source(cell).strip()}
            if grade_id and kind != "text":
                if mine is None:
                    flags.append(f"{kind} cell {grade_id} was deleted (the original was run)")
                elif source(mine).strip() not in expected:
                    flags.append(f"{kind} cell {grade_id} was edited (the original was run)")
            cells.append(dict(cell))
        cells += added.get(grade_id, [])
    return Merged(cells, flags, lab.references())


def _find(nb: dict, grade_id: str) -> dict | None:
    return next((c for c in nb["cells"] if meta(c).get("grade_id") == grade_id), None)


def runner_kind(cell: dict) -> str | None:
    """How the runner treats a merged cell: ``test``, ``locked``, ``student`` or None
    (markdown: not executed)."""
    if cell.get("cell_type") != "code":
        return None
    return {"test": "test", "locked": "locked"}.get(role(cell), "student")
