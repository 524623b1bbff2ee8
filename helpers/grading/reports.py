"""What the grader hands out: student feedback, the grades CSV and a per-lab summary.

Feedback is written from the result files of `batch` and the *released* lab (the
student's own version), never from ``solutions/``: a student sees each test's visible
source, the points per test (hidden tests included) and, for every failure, the error and
its message; a hidden test's message is shown (the labs write them to reveal no code), its
source and line never are.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
from pathlib import Path

from .course import GradingError, check_labs, config, course_root, nbgrader
from .gradebook import RESULT_FILE, gradebook_missing, open_gradebook
from .notebooks import Lab, meta

EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
STYLE = """body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto}.passed{color:#1a7f37}.failed{color:#cf222e}
.flags{background:#fff8c5;padding:.5rem 1rem}"""


def results(root: Path, lab: str) -> list[dict]:
    """Stored results of one lab (``autograded/*/<lab>/result.json``), by student."""
    found = []
    for path in sorted((root / "autograded").glob(f"*/{lab}/{RESULT_FILE}")):
        found.append(json.loads(path.read_text(encoding="utf-8")))
    return found


def feedback_html(lab: Lab, result: dict) -> str:
    """One student's feedback page (HTML)."""
    esc = html.escape
    tests = {meta(c)["grade_id"]: result["tests"][meta(c)["grade_id"]] for c in lab.tests()}
    got, top = sum(t["points"] for t in tests.values()), sum(t["max"] for t in tests.values())
    manual = [meta(c) for c in lab.released["cells"]
              if meta(c).get("grade") and meta(c).get("solution")]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(lab.name)} "
             f"feedback</title><style>{STYLE}</style></head><body>",
             f"<h1>Feedback: {esc(lab.name)} lab</h1><p>Student: <b>{esc(result['student'])}"
             f"</b></p><p>Score of the automatic tests: <b>{got:g} / {top:g}</b>"]
    if manual:
        points = sum(float(m.get("points", 0)) for m in manual)
        parts.append(f" (plus {points:g} point(s) of written answers, graded by hand)")
    parts.append("</p>")
    if result["flags"]:
        parts.append("<div class='flags'><p>Notes from the grader:</p><ul>" + "".join(
            f"<li>{esc(flag)}</li>" for flag in result["flags"]) + "</ul></div>")
    parts.append("<table><tr><th>test</th><th>points</th><th>result</th></tr>")
    for grade_id, test in tests.items():
        parts.append(f"<tr><td>{esc(grade_id)}</td><td>{test['points']:g} / {test['max']:g}</td>"
                     f"<td class='{test['status']}'>{esc(test['status'])}</td></tr>")
    parts.append("</table>")
    for grade_id, test in tests.items():
        parts.append(f"<h2>{esc(grade_id)}: {test['points']:g} / {test['max']:g}</h2>")
        if test["status"] != "passed":
            parts.append(f"<p class='failed'>{esc(test['detail'] or test['status'])}</p>")
        visible = lab.released_source(grade_id).strip()
        parts.append("<p>The tests you could see (the grader also ran hidden ones):</p>"
                     f"<pre>{esc(visible)}</pre>")
    parts.append("</body></html>\n")
    return "".join(parts)


def feedback(lab: str | None = None, course_dir: str | os.PathLike = ".") -> list[Path]:
    """Write ``feedback/<student>/<lab>/<lab>_lab.html`` for every graded submission.

    The files ``nbgrader collect`` left next to the submission (timestamp, secret) are
    copied along, so that ``nbgrader release_feedback <lab>`` can hand the pages out
    through a JupyterHub exchange."""
    root = course_root(course_dir)
    written = []
    for name in check_labs([lab] if lab else None, course_dir):
        graded = results(root, name)
        if not graded:
            continue
        info = Lab.load(root, name)
        for result in graded:
            path = root / "feedback" / result["student"] / name / f"{name}_lab.html"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(feedback_html(info, result), encoding="utf-8")
            written.append(path)
            for name_file in EXCHANGE_FILES:  # what `nbgrader release_feedback` needs
                collected = root / "submitted" / result["student"] / name / name_file
                if collected.is_file():
                    shutil.copyfile(collected, path.parent / name_file)
    if not written:
        raise GradingError("nothing autograded yet; run `python -m helpers.grading grade "
                           "SUBMISSIONS` first.")
    return written


def export(to: str | os.PathLike = "grades.csv", course_dir: str | os.PathLike = ".") -> Path:
    """All grades to CSV (nbgrader's CSV exporter): one row per student and lab."""
    root = course_root(course_dir)
    cfg = config(course_dir)
    if gradebook_missing(cfg, root):
        raise GradingError("no gradebook.db yet: release and autograde labs first.")
    nbgrader()
    from nbgrader.plugins import CsvExportPlugin
    dest = Path(to) if Path(to).is_absolute() else root / to
    with open_gradebook(cfg.CourseDirectory.db_url) as gb:
        CsvExportPlugin(to=str(dest)).export(gb)
    return dest


def summary(lab: str, course_dir: str | os.PathLike = ".") -> tuple[Path, Path]:
    """Per-lab summary: ``summary/<lab>_tests.csv`` (pass rate per test) and
    ``summary/<lab>.png`` (score distribution + pass rates). Returns both paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    root = course_root(course_dir)
    graded = results(root, lab)
    if not graded:
        raise GradingError(f"no graded submissions of {lab} yet")
    tests = [meta(c)["grade_id"] for c in Lab.load(root, lab).tests()]
    rates = [sum(r["tests"][t]["status"] == "passed" for r in graded) / len(graded)
             for t in tests]
    totals = [sum(t["points"] for t in r["tests"].values()) for r in graded]
    top = sum(t["max"] for t in graded[0]["tests"].values())
    folder = root / "summary"
    folder.mkdir(exist_ok=True)
    table = folder / f"{lab}_tests.csv"
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["test", "points", "pass_rate", "students"])
        for test, rate in zip(tests, rates):
            writer.writerow([test, graded[0]["tests"][test]["max"], f"{rate:.3f}", len(graded)])
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    left.hist(totals, bins=[x - 0.5 for x in range(int(top) + 2)], color="#4c72b0", rwidth=0.85)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.set(xlabel=f"autograded score (of {top:g})", ylabel="students",
             title=f"{lab}: score distribution (n={len(graded)})")
    right.barh(tests[::-1], [100 * r for r in rates[::-1]], color="#55a868")
    right.set(xlim=(0, 100), xlabel="students passing (%)", title="pass rate per test")
    image = folder / f"{lab}.png"
    figure.savefig(image, dpi=120)
    plt.close(figure)
    return table, image
