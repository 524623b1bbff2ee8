"""Repository conventions for notebooks and labs (fast; no kernel, no nbgrader needed).

- Committed notebooks carry no outputs and no execution counts.
- Code lines that a reader or student sees (code cells not tagged remove-input or
  remove-cell) are at most MAX_CODE_LINE characters wide.
- solutions/<ch>/<ch>_lab.ipynb and labs/<ch>/<ch>_lab.ipynb come in pairs.
- A lab (student version) holds no solution markers, solution code or hidden tests.
- A solution notebook has a manually graded written answer, at least one hidden and one
  visible autograded test, and points on every graded cell.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import CHAPTERS

REPO = Path(__file__).resolve().parents[1]
CHAPTER_NAMES = set(CHAPTERS)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")
NOT_SOURCES = (".venv", "_build", "node_modules", ".ipynb_checkpoints", "submitted",
               "autograded", "feedback")
MIN_LEAK = 20  # solution snippets shorter than this are too generic to call a leak
# Wider code lines overflow the book's code column and the lab pages, so readers and
# students have to scroll sideways; 88 is also black's default line length.
MAX_CODE_LINE = 88
HIDDEN_TAGS = {"remove-input", "remove-cell"}  # the book hides these cells' code


def repo_notebooks() -> list[str]:
    """Notebooks that are (or are about to be) committed: tracked or untracked-not-ignored."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                              "--", "*.ipynb"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout
        return sorted(set(out.split("\n")) - {""})
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. a tarball)
        return sorted(str(p.relative_to(REPO)) for p in REPO.rglob("*.ipynb")
                      if not set(p.relative_to(REPO).parts) & set(NOT_SOURCES))


def chapters(folder: str) -> set[str]:
    return {p.name for p in (REPO / folder).glob("*/") if not p.name.startswith((".", "_"))}


SOLUTIONS = sorted(chapters("solutions"))
ALL_CHAPTERS = sorted(chapters("solutions") | chapters("labs"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def blocks(text: str, begin: str, end: str) -> list[str]:
    """The regions between lines containing ``begin`` and ``end``, stripped line by line."""
    found, current = [], None
    for line in text.splitlines():
        if begin in line:
            current = []
        elif end in line and current is not None:
            found.append("\n".join(l.strip() for l in current if l.strip()))
            current = None
        elif current is not None:
            current.append(line)
    return found


def normalized(text: str) -> str:
    return "\n".join(l.strip() for l in text.splitlines() if l.strip())


def lab_paths(chapter: str) -> tuple[Path, Path]:
    name = f"{chapter}_lab.ipynb"
    return REPO / "solutions" / chapter / name, REPO / "labs" / chapter / name


# ------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("notebook", repo_notebooks())
def test_committed_notebooks_have_no_outputs(notebook):
    nb = load(REPO / notebook)
    dirty = [i for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{notebook}: cells {dirty} carry outputs or execution counts; clear "
                       "them (e.g. jupyter nbconvert --clear-output --inplace, or make labs)")


@pytest.mark.parametrize("notebook", repo_notebooks())
def test_visible_code_lines_fit_the_page(notebook):
    long = [f"  cell {i}, line {n + 1} ({len(line)} characters): {line.strip()}"
            for i, cell in enumerate(load(REPO / notebook)["cells"])
            if cell["cell_type"] == "code"
            and not HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", []))
            for n, line in enumerate(source(cell).splitlines())
            if len(line) > MAX_CODE_LINE]
    assert not long, (f"{notebook}: code lines wider than {MAX_CODE_LINE} characters "
                      "(rewrap them; labs/: fix the solution and run make labs):\n"
                      + "\n".join(long))


def test_every_chapter_has_a_solution_and_a_lab():
    assert set(ALL_CHAPTERS) <= CHAPTER_NAMES, f"unknown chapter folders: {set(ALL_CHAPTERS) - CHAPTER_NAMES}"
    for chapter in ALL_CHAPTERS:
        solution, lab = lab_paths(chapter)
        assert solution.is_file(), f"missing {solution.relative_to(REPO)}"
        assert lab.is_file(), f"missing {lab.relative_to(REPO)}; run make labs"


@pytest.mark.parametrize("chapter", ALL_CHAPTERS)
def test_lab_holds_no_solutions_or_hidden_tests(chapter):
    solution_path, lab_path = lab_paths(chapter)
    if not (solution_path.is_file() and lab_path.is_file()):
        pytest.skip("pairing is checked by test_every_chapter_has_a_solution_and_a_lab")
    lab = load(lab_path)
    lab_text = "\n".join(normalized(source(cell)) for cell in lab["cells"])
    for marker in MARKERS:
        assert marker not in lab_text, f"labs/{chapter}: contains '{marker}'; run make labs"
    secrets = []
    for cell in load(solution_path)["cells"]:
        text = source(cell)
        secrets += blocks(text, "BEGIN SOLUTION", "END SOLUTION")
        secrets += blocks(text, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
        secrets += blocks(text, "BEGIN MARK SCHEME", "END MARK SCHEME")
        if meta(cell).get("solution") and "BEGIN SOLUTION" not in text:
            secrets.append(normalized(text))  # whole cell is the answer
    for secret in secrets:
        if len(secret) >= MIN_LEAK:
            assert secret not in lab_text, f"labs/{chapter} leaks solution text:\n{secret}"


@pytest.mark.parametrize("chapter", SOLUTIONS)
def test_solution_is_a_complete_nbgrader_source(chapter):
    path, _ = lab_paths(chapter)
    if not path.is_file():
        pytest.skip("pairing is checked by test_every_chapter_has_a_solution_and_a_lab")
    cells = load(path)["cells"]
    graded = [c for c in cells if meta(c)]
    ids = [meta(c).get("grade_id") for c in graded]
    assert all(ids) and len(ids) == len(set(ids)), f"{chapter}: grade_ids missing or repeated: {ids}"
    for cell in graded:
        m = meta(cell)
        assert m.get("schema_version") == 3, f"{m.get('grade_id')}: nbgrader schema_version must be 3"
        if m.get("grade") or m.get("task"):
            assert isinstance(m.get("points"), (int, float)) and m["points"] > 0, \
                f"{m['grade_id']}: graded cell without positive points"
    manual = [c for c in graded if meta(c).get("task") or
              (c["cell_type"] == "markdown" and meta(c).get("grade") and meta(c).get("solution"))]
    tests = [c for c in graded if c["cell_type"] == "code" and meta(c).get("grade")
             and not meta(c).get("solution")]
    hidden = [c for c in tests if blocks(source(c), "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")]
    visible = [c for c in tests if any(
        l.strip() and not l.strip().startswith("#")
        for l in source(c).split("BEGIN HIDDEN TESTS")[0].splitlines())]
    answers = [c for c in graded if meta(c).get("solution") and "BEGIN SOLUTION" in source(c)]
    assert manual, f"{chapter}: needs a manually graded written answer (task or graded markdown answer)"
    assert hidden, f"{chapter}: needs at least one test cell with a ### BEGIN HIDDEN TESTS block"
    assert visible, f"{chapter}: needs at least one visible autograded test"
    assert answers, f"{chapter}: needs at least one ### BEGIN SOLUTION region"


@pytest.mark.parametrize("chapter", SOLUTIONS)
def test_solution_metadata_passes_nbgrader_validator(chapter):
    import nbformat
    from nbgrader import nbgraderformat as validator
    path, _ = lab_paths(chapter)
    if not path.is_file():
        pytest.skip("pairing is checked by test_every_chapter_has_a_solution_and_a_lab")
    validator.MetadataValidator().validate_nb(nbformat.read(path, as_version=4))


@pytest.mark.parametrize("chapter", SOLUTIONS)
def test_every_assert_in_a_lab_says_what_was_expected(chapter):
    """Feedback shows assert messages (hidden ones too): a bare assert teaches nothing."""
    import ast
    path, _ = lab_paths(chapter)
    bare = []
    for cell in load(path)["cells"]:
        if cell["cell_type"] != "code" or not meta(cell).get("grade_id"):
            continue
        text = "\n".join(line for line in source(cell).splitlines()
                         if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Assert) and node.msg is None:
                bare.append(f"{meta(cell)['grade_id']}: {ast.unparse(node)[:70]}")
    assert not bare, f"{chapter}: asserts without a message:\n" + "\n".join(bare)


@pytest.mark.parametrize("chapter", SOLUTIONS)
def test_lab_has_rubrics_references_and_a_before_you_submit_box(chapter):
    path, released = lab_paths(chapter)
    nb = load(path)
    references = nb.get("metadata", {}).get("tai", {}).get("references", [])
    assert references, f"{chapter}: no tai.references in the notebook metadata (the kit's " \
                       "functions that would answer a task)"
    manual = [c for c in nb["cells"] if c["cell_type"] == "markdown"
              and meta(c).get("grade") and meta(c).get("solution")]
    for cell in manual:
        assert "**Rubric" in source(cell), \
            f"{chapter}/{meta(cell)['grade_id']}: the model answer needs a '**Rubric (N points).**'"
    box = [c for c in load(released)["cells"] if meta(c).get("grade_id") == "before_you_submit"]
    assert box and "Before you submit" in source(box[0]), \
        f"{chapter}: the student version needs the 'Before you submit' box"
    for name in references:  # private helpers need no mention; the watch covers them
        short = name.rsplit(".", 1)[1]
        assert short.startswith("_") or short in source(box[0]), \
            f"{chapter}: the box should name {name} as off limits"
