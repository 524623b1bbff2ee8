"""Download the real datasets into the kit's data directory.

    python data_scripts/download.py svhn mnist      # or: all
    python data_scripts/download.py --list

Files go to $TAI_DATA_DIR (default: <repo>/data), where `helpers.data.load` finds them.
torchvision's downloaders verify each file's MD5 checksum. Without network access this
fails quickly with a message; the notebooks then use the embedded stand-ins.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.data import DATASETS, real_available  # noqa: E402
from helpers.paths import data_dir  # noqa: E402

TIMEOUT_SECONDS = 30


def _svhn(root: Path) -> None:
    from torchvision.datasets import SVHN

    for split in ("train", "test"):
        SVHN(str(root / "svhn"), split=split, download=True)


def _mnist(root: Path) -> None:
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(root), train=train, download=True)


DOWNLOADERS = {"svhn": _svhn, "mnist": _mnist}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"datasets: {', '.join(DOWNLOADERS)} or all")
    parser.add_argument("--list", action="store_true", help="show which datasets are present")
    args = parser.parse_args(argv)
    root = data_dir()
    if args.list or not args.names:
        for name, info in DATASETS.items():
            state = ("present" if real_available(name) else "missing") if name in DOWNLOADERS \
                else "stand-in only"
            print(f"{name:10s} {info.title:20s} {state}")
        print(f"data directory: {root}")
        return 0
    names = list(DOWNLOADERS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in DOWNLOADERS]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {', '.join(DOWNLOADERS)} or all")
    socket.setdefaulttimeout(TIMEOUT_SECONDS)
    failed = []
    for name in names:
        try:
            DOWNLOADERS[name](root)
            print(f"{name}: ready in {root}")
        except (OSError, RuntimeError) as error:
            failed.append(name)
            print(f"{name}: download failed ({error}). Without network access, fetch the "
                  f"files elsewhere and place them under {root} (see book/setup.md).",
                  file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
