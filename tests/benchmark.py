"""Wall time of every walkthrough per profile (not a test: run it by hand).

    .venv/bin/python tests/benchmark.py                 # tiny
    .venv/bin/python tests/benchmark.py tiny quick      # several profiles, side by side

Runs each notebook with papermill in a temporary output directory (stand-in data unless
real data is in $TAI_DATA_DIR) and prints a table of seconds per notebook and profile.
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


if __name__ == "__main__":
    main(sys.argv[1:] or ["tiny"])
