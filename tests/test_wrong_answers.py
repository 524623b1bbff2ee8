"""Plausible wrong answers lose points on exactly the task they break.

``tests/wrong_answers/<lab>.py`` lists, per answer cell of a lab, wrong versions a student
could plausibly write (a dict ``WRONG = {answer grade_id: {mistake: variant}}``; a variant
is the whole cell source, or ``(old, new)`` replacements applied to the solution's cell).
Each is graded by the grader's own runner in the sandbox (`execute.run`, which also
enforces the lab's reference list) and scored by its `cell_outcome`. It must lose points
on a part of its own task and on nothing else, and the solution must keep full marks.

Speed: one sandbox per lab. The lab's cells up to its last test run once per variant in
that sandbox (the solution first, as the control), so PyTorch is imported once per lab,
not once per variant; every repetition re-runs the setup cells, so each variant starts
from fresh fixtures. A variant's block leaves out the test cells before its answer cell:
they run before the wrong answer exists, so their outcome is the control's. The
ungraded experiment and the written answer after the last test are left out: they earn
no points.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from helpers.grading import execute, sandbox
from helpers.grading.batch import cell_outcome
from helpers.grading.notebooks import Lab, Merged, meta, role, source

REPO = Path(__file__).resolve().parents[1]
CATALOGUES = REPO / "tests" / "wrong_answers"
LABS = sorted(p.stem for p in CATALOGUES.glob("*.py") if not p.stem.startswith("_"))
MIN_VARIANTS = 3
FIRST_SLOT = 10  # sandbox slots (uids, scratch names) apart from the class batch's 0, 1, ...


def catalogue(lab: str) -> dict[str, dict]:
    """``WRONG`` of ``tests/wrong_answers/<lab>.py``."""
    spec = importlib.util.spec_from_file_location(f"wrong_answers_{lab}", CATALOGUES / f"{lab}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG


def tasks(solution: dict) -> dict[str, list[str]]:
    """``{answer grade_id: [grade_ids of the test cells that follow it]}``."""
    found, current = {}, None
    for cell in solution["cells"]:
        if role(cell) == "answer":
            current = meta(cell)["grade_id"]
            found.setdefault(current, [])
        elif role(cell) == "test" and current is not None:
            found[current].append(meta(cell)["grade_id"])
    return {answer: tests for answer, tests in found.items() if tests}


def variant_source(original: str, variant, where: str) -> str:
    """The answer cell's source for one catalogue entry (see the module docstring)."""
    if isinstance(variant, str):
        return variant
    text = original
    for old, new in variant:
        assert old in text, f"{where}: the text to replace does not occur in the solution: {old!r}"
        text = text.replace(old, new)
    assert text != original, f"{where}: the replacements leave the solution unchanged"
    return text


def repetitions(lab: Lab, wrong: dict) -> tuple[list[dict], list[tuple[str, str, int]]]:
    """The cells to run (one block per variant, the solution's first) and, per block,
    ``(answer grade_id, mistake, index of the block's first cell)``."""
    cells = lab.solution["cells"]
    last_test = max(i for i, c in enumerate(cells) if role(c) == "test")
    block = [dict(c, source=source(c)) for c in cells[:last_test + 1]]
    plan = [("", "solution", None)] + [(answer, mistake, variant)
                                       for answer, mistakes in wrong.items()
                                       for mistake, variant in mistakes.items()]
    answer_at = {meta(c)["grade_id"]: i for i, c in enumerate(block) if role(c) == "answer"}
    merged, starts = [], []
    for answer, mistake, variant in plan:
        starts.append((answer, mistake, len(merged)))
        for position, cell in enumerate(block):
            if variant is not None and role(cell) == "test" and position < answer_at[answer]:
                continue   # runs before the wrong answer exists: the control's outcome
            if variant is not None and meta(cell).get("grade_id") == answer and \
                    role(cell) == "answer":
                cell = dict(cell, source=variant_source(cell["source"], variant,
                                                        f"{lab.name}/{answer}/{mistake}"))
            merged.append(cell)
    return merged, starts


def grade_variants(lab: Lab, wrong: dict, slot: int) -> list[dict]:
    """Run every variant; one row per variant: ``{answer, mistake, lost: {test: detail}}``."""
    cells, starts = repetitions(lab, wrong)
    run = execute.run(Merged(cells, [], lab.references()), None,
                      sandbox.Limits(timeout=60, cpu_seconds=1800), slot)
    assert not run.flags, f"{lab.name}: the grading run was flagged: {run.flags}\n" \
                          f"{run.output[-2000:]}"
    rows = []
    for position, (answer, mistake, start) in enumerate(starts):
        end = starts[position + 1][2] if position + 1 < len(starts) else len(cells)
        lost = {}
        for index in range(start, end):
            if role(cells[index]) != "test":
                continue
            outcome = cell_outcome(cells[index], run.cells[index])
            if outcome["points"] < outcome["max"]:
                lost[meta(cells[index])["grade_id"]] = outcome["detail"]
        rows.append({"answer": answer, "mistake": mistake, "lost": lost})
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("lab_name", LABS)
def test_wrong_answers_lose_points_on_their_task_only(lab_name):
    lab = Lab.load(REPO, lab_name)
    wrong = catalogue(lab_name)
    parts = tasks(lab.solution)
    assert set(wrong) <= set(parts), \
        f"{lab_name}: catalogue names answer cells the lab does not have: {set(wrong) - set(parts)}"
    thin = {a: len(wrong.get(a, {})) for a in parts if len(wrong.get(a, {})) < MIN_VARIANTS}
    assert not thin, f"{lab_name}: at least {MIN_VARIANTS} wrong answers per task, got {thin}"

    rows = grade_variants(lab, wrong, FIRST_SLOT + LABS.index(lab_name))
    print(f"\n{lab_name}: {len(rows) - 1} wrong answers")
    for row in rows:
        print(f"  {row['answer'] or '-':<14} {row['mistake']:<45} "
              f"lost: {', '.join(row['lost']) or 'nothing'}")
    control, *variants = rows
    assert not control["lost"], f"{lab_name}: the solution lost points: {control['lost']}"
    problems = []
    for row in variants:
        where = f"{row['answer']} / {row['mistake']}"
        if not row["lost"]:
            problems.append(f"{where}: scored full marks")
        elsewhere = set(row["lost"]) - set(parts[row["answer"]])
        if elsewhere:
            problems.append(f"{where}: also lost points on {sorted(elsewhere)} "
                            f"({json.dumps({t: row['lost'][t] for t in elsewhere})[:300]})")
    for answer in parts:
        if not any(r["answer"] == answer and any("ReferenceUsed" in d for d in r["lost"].values())
                   for r in variants):
            problems.append(f"{answer}: no wrong answer that calls the kit's reference was "
                            "caught as ReferenceUsed (add one, and the function to the lab's "
                            "tai.references)")
    assert not problems, f"{lab_name}:\n" + "\n".join(problems)


def test_every_lab_has_a_catalogue():
    labs = sorted(p.name for p in (REPO / "solutions").glob("*/")
                  if (p / f"{p.name}_lab.ipynb").is_file())
    assert LABS == labs, f"tests/wrong_answers/ covers {LABS}, the labs are {labs}"
