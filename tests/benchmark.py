"""Wall time of every walkthrough per profile (not a test: run it by hand).

    .venv/bin/python tests/benchmark.py                 # tiny
    .venv/bin/python tests/benchmark.py tiny quick      # several profiles, side by side
    .venv/bin/python tests/benchmark.py attacks         # our PGD vs torchattacks' PGD

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


def attacks_benchmark(repeats: int = 5, batch: int = 256, steps: int = 10) -> float:
    """Throughput of helpers.attacks.pgd vs torchattacks.PGD, same model and batch, one run.

    Both attack a small CNN (width 16) on ``batch`` random images, without random start
    (so both compute exactly the same thing, which is checked), alternating runs so that
    background load hits both alike. Prints images/s of each and the ratio ours/theirs.
    """
    import torch
    import torchattacks

    from helpers import attacks
    from helpers.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", width=16).eval()
    images = torch.rand(batch, 3, 32, 32)
    labels = torch.randint(0, 10, (batch,))
    eps, step = 8 / 255, 2 / 255
    theirs_attack = torchattacks.PGD(model, eps=eps, alpha=step, steps=steps, random_start=False)
    runs = {"ours": lambda: attacks.pgd(model, images, labels, eps, step, steps),
            "torchattacks": lambda: theirs_attack(images, labels)}
    assert (runs["ours"]() - runs["torchattacks"]()).abs().max() <= 1e-6
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    best = {name: min(values) for name, values in seconds.items()}
    for name, value in best.items():
        print(f"PGD-{steps} {name:13s} {batch / value:8.1f} images/s (best of {repeats})")
    ratio = best["torchattacks"] / best["ours"]
    print(f"throughput ratio ours / torchattacks: {ratio:.2f}x "
          f"(threads: {torch.get_num_threads()}, cores: {os.cpu_count()})")
    return ratio


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if "attacks" in arguments:
        attacks_benchmark()
        arguments.remove("attacks")
        if not arguments:
            sys.exit(0)
    main(arguments or ["tiny"])
