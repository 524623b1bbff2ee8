"""Benchmarks (not tests: run them by hand).

    .venv/bin/python tests/benchmark.py                 # walkthroughs, tiny profile
    .venv/bin/python tests/benchmark.py tiny quick      # several profiles, side by side
    .venv/bin/python tests/benchmark.py grading [N]     # grading throughput, N submissions

Walkthroughs: runs each notebook with papermill in a temporary output directory
(stand-in data unless real data is in $TAI_DATA_DIR) and prints a table of seconds per
notebook and profile.

grading: builds a scratch course with N submissions of every lab (alternately the
solution and the untouched lab), grades them once serially (--jobs 1) and once in
parallel (--jobs = number of cores), both sandboxed, and prints submissions per minute
and the parallel/serial ratio; it also checks that both runs gave the same grades.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import papermill

REPO = Path(__file__).resolve().parent.parent


def main(profiles: list[str]) -> None:
    notebooks = sorted(REPO.glob("book/*/*.ipynb"))
    times: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["TAI_OUTPUT_DIR"] = scratch
        os.environ.pop("TAI_PROFILE", None)
        for notebook in notebooks:
            for profile in profiles:
                start = time.perf_counter()
                papermill.execute_notebook(str(notebook), str(Path(scratch) / notebook.name),
                                           parameters={"profile": profile, "seed": 0},
                                           cwd=str(notebook.parent), progress_bar=False)
                times.setdefault(notebook.parent.name, {})[profile] = time.perf_counter() - start
                print(f"{notebook.parent.name:16s} {profile:6s} {times[notebook.parent.name][profile]:7.1f} s",
                      flush=True)
    print(f"\n{'notebook':16s}" + "".join(f"{p:>10s}" for p in profiles))
    for chapter, row in times.items():
        print(f"{chapter:16s}" + "".join(f"{row[p]:9.1f}s" for p in profiles))
    print(f"cores: {os.cpu_count()}")


def grading(count: int) -> None:
    """Serial vs parallel sandboxed grading of ``count`` submissions per lab."""
    import json
    import shutil

    from helpers.grading import autograde, release

    with tempfile.TemporaryDirectory() as scratch:
        course, folder = Path(scratch) / "course", Path(scratch) / "submissions"
        course.mkdir()
        shutil.copy(REPO / "nbgrader_config.py", course)
        for name in ("solutions", "labs"):
            shutil.copytree(REPO / name, course / name)
        release(course_dir=course)
        labs = sorted(p.name for p in (course / "solutions").iterdir() if p.is_dir())
        for lab in labs:
            for i in range(count):
                source = ("solutions" if i % 2 == 0 else "labs")
                path = folder / f"student{i:03d}" / lab / f"{lab}_lab.ipynb"
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / source / lab / f"{lab}_lab.ipynb", path)
        rates, grades = {}, {}
        for jobs in (1, os.cpu_count() or 1):
            start = time.perf_counter()
            rows = autograde(folder, course_dir=course, jobs=jobs, force=True, progress=False)
            minutes = (time.perf_counter() - start) / 60
            rates[jobs] = len(rows) / minutes
            grades[jobs] = json.dumps({(r["lab"] + "/" + r["student"]): r["tests"] for r in rows},
                                      sort_keys=True)
            print(f"jobs={jobs}: {len(rows)} submissions in {minutes * 60:.0f} s "
                  f"= {rates[jobs]:.1f} submissions/min; load average {os.getloadavg()[0]:.1f}",
                  flush=True)
    serial, parallel = rates[1], rates[max(rates)]
    print(f"\ngrading: serial {serial:.1f}/min, parallel ({max(rates)} jobs) {parallel:.1f}/min, "
          f"ratio {parallel / serial:.2f}; same grades: {grades[1] == grades[max(rates)]}; "
          f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["grading"]:
        grading(int(sys.argv[2]) if len(sys.argv) > 2 else 6)
    else:
        main(sys.argv[1:] or ["tiny"])
