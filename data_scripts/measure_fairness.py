"""Measure the fairness chapter's game on the real UCI Adult files; write a measurement file.

    OMP_NUM_THREADS=1 python data_scripts/measure_fairness.py            # quick, seeds 0 1 2
    python data_scripts/measure_fairness.py --seeds 0 --sweep 0 1 --out /tmp/m.json

Reads ``adult/adult.data`` and ``adult/adult.test`` under ``--root`` (default
``<repo>/../shared/data``, the course's shared copy; checked against the SHA-256 of
``helpers.data.downloads``), runs the walkthrough's experiment with the profile's
settings for every seed (the unconstrained classifier, then the debiasing game with
λ × 1) and a λ sweep on the first seed, and writes ``book/measurements/fairness-<profile>
.json`` with its provenance (date, data SHA-256, machine, wall and CPU seconds). The
results page of the book reads these files: their numbers come from this run, never
from prose.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from helpers import debiasing, fairness  # noqa: E402
from helpers.data import adult as adult_data  # noqa: E402
from helpers.data import downloads  # noqa: E402
from helpers.data.transfer import ChecksumError, file_hashes  # noqa: E402
from helpers.profiles import get_profile  # noqa: E402

SHARED_ROOT = REPO.parent / "shared" / "data"
METRICS = ("accuracy", "p% sex", "p% race")


def adult_checksums(root: Path) -> dict[str, str]:
    """SHA-256 of ``root/adult/adult.data`` and ``.test``; ``ChecksumError`` if either
    differs from the UCI files the kit records (so no measurement is of other data)."""
    expected = dict(downloads.REGISTRY["adult"].files[0].members)
    found = {name: file_hashes(root / "adult" / name)[0] for name in expected}
    wrong = [name for name in expected if found[name] != expected[name]]
    if wrong:
        raise ChecksumError(f"{root / 'adult'}: {wrong} differ from the UCI files "
                            f"(sha256 {[found[n] for n in wrong]}).")
    return found


def scores(classifier, adult) -> dict[str, float]:
    """Accuracy and p%-rules (%) of ``classifier`` on the test half of ``adult``."""
    probabilities = debiasing.predict_proba(classifier, adult.X_test).numpy()
    row = fairness.fairness_report(adult.y_test, probabilities, adult.Z_test)
    return {key: round(row[key], 2) for key in METRICS}


def proxy_auc(adult) -> dict[str, float]:
    """ROC AUC (%) of a logistic regression predicting each attribute from X alone."""
    auc = {}
    for attribute in adult.Z_train.columns:
        probe = LogisticRegression(max_iter=500).fit(adult.X_train, adult.Z_train[attribute])
        auc[attribute] = round(100 * fairness.roc_auc(
            adult.Z_test[attribute], probe.predict_proba(adult.X_test)[:, 1]), 2)
    return auc


def pretrained(adult, settings, seed: int) -> debiasing.Players:
    """The walkthrough's unconstrained classifier and its pretrained adversary."""
    return debiasing.pretrain(adult.X_train, adult.y_train, adult.Z_train,
                              epochs=settings.pretrain_epochs,
                              adversary_epochs=settings.adversary_epochs,
                              batch_size=settings.batch_size, lr=settings.lr,
                              balanced=settings.balanced, seed=seed)


def game(players: debiasing.Players, adult, settings, seed: int, scale: float = 1.0,
         iterations: int | None = None) -> debiasing.Debiased:
    """The debiasing game from copies of ``players`` with λ × ``scale`` (the walkthrough's
    settings; ``iterations`` overrides the profile's)."""
    sweep = debiasing.lambda_sweep(
        players.classifier, players.adversary,
        (adult.X_train, adult.y_train, adult.Z_train),
        (adult.X_test, adult.y_test, adult.Z_test), settings.lambdas, [scale],
        iterations=settings.iterations if iterations is None else iterations,
        batch_size=settings.batch_size, lr=settings.lr, balanced=settings.balanced,
        seed=seed, progress=False)
    return sweep.runs[scale]


class Clock:
    """Wall and CPU seconds (this process, all threads) since construction."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> dict[str, float]:
        return {"wall_seconds": round(time.perf_counter() - self.wall, 1),
                "cpu_seconds": round(time.process_time() - self.cpu, 1)}


def measure_seed(root: Path, settings, seed: int, scales=()) -> tuple[dict, dict]:
    """One seed: (run record, {scale: sweep row}); the run's times cover loading,
    pretraining and the game with λ × 1, each row's ``wall_seconds`` its game alone."""
    clock = Clock()
    adult = adult_data.load_adult("real", size=settings.size, seed=seed, verbose=False,
                                  root=root)
    players = pretrained(adult, settings, seed)
    game_clock = Clock()
    debiased = game(players, adult, settings, seed)
    game_seconds = game_clock.read()["wall_seconds"]
    run = {"seed": seed, **clock.read(),
           "metrics": {"unconstrained": scores(players.classifier, adult),
                       "debiased": scores(debiased.classifier, adult)},
           "proxy_auc": proxy_auc(adult),
           "majority_rate": round(100 * max(adult.y_test.mean(), 1 - adult.y_test.mean()), 2)}
    rows = {1.0: {**run["metrics"]["debiased"], "wall_seconds": game_seconds}}
    for scale in scales:
        if scale == 1.0:
            continue
        clock = Clock()
        rows[scale] = {**scores(game(players, adult, settings, seed, scale).classifier,
                                adult), "wall_seconds": clock.read()["wall_seconds"]}
    return run, rows


def measurement(root: Path, profile: str, seeds, scales) -> dict:
    """The measurement file's content (see the module doc and ``book/measurements``)."""
    P = get_profile(profile)
    settings = P.fairness
    checksums = adult_checksums(root)
    runs, sweep = [], {}
    for index, seed in enumerate(seeds):
        run, rows = measure_seed(root, settings, seed, scales if index == 0 else ())
        runs.append(run)
        if index == 0:
            sweep = {f"{scale:g}": rows[scale] for scale in sorted(rows)}
        print(json.dumps(run), flush=True)
    return {
        "chapter": "fairness", "profile": P.name,
        "data": {"adult": "UCI Adult (real), sha256 " + ", ".join(
            f"{name} {sha}" for name, sha in checksums.items())},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"arch": platform.machine(), "cores": os.cpu_count(),
                    "torch_threads": 1, "python": platform.python_version(),
                    "torch": torch.__version__},
        "command": "OMP_NUM_THREADS=1 python data_scripts/measure_fairness.py "
                   + " ".join(sys.argv[1:]),
        "settings": {key: getattr(settings, key) for key in (
            "size", "pretrain_epochs", "adversary_epochs", "iterations", "batch_size",
            "lr", "balanced", "lambdas")},
        "runs": runs,
        "sweep": {"seed": seeds[0], "lambdas": settings.lambdas, "rows": sweep},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=SHARED_ROOT,
                        help="folder holding adult/adult.data and adult/adult.test")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sweep", type=float, nargs="*", default=None,
                        help="λ scales on the first seed (default: the profile's sweep)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: book/measurements/fairness-<profile>.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)    # tiny networks: threads only add overhead
    scales = args.sweep if args.sweep is not None else get_profile(args.profile).fairness.sweep
    result = measurement(args.root, args.profile, args.seeds, [float(s) for s in scales])
    out = args.out or REPO / "book" / "measurements" / f"fairness-{result['profile']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
