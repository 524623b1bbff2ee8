"""Download, verify, list and remove the real datasets in the kit's data directory.

    python data_scripts/download.py                      # list: what is there, verified or not
    python data_scripts/download.py svhn mnist           # download (same as: download svhn mnist)
    python data_scripts/download.py download all
    python data_scripts/download.py verify               # re-hash what is there (no network)
    python data_scripts/download.py remove cifar10
    python data_scripts/download.py --print-urls pets    # what to fetch by hand, with checksums
    python data_scripts/download.py import ~/Downloads/images.tar.gz ...
    python data_scripts/download.py import adult.data adult.test   # loose archive members

Files go to --data-dir, else $TAI_DATA_DIR, else <repo>/data, in the layout torchvision
uses, where `helpers.data.load` finds them. Every file is checked against its SHA-256
before it is placed; partial downloads resume; --offline never opens a connection.
Exit codes: 0 ok, 1 other error, 2 usage, 3 no network, 4 file unavailable on every
mirror, 5 checksum mismatch, 6 disk full, 7 directory not writable, 8 not verified
(missing or corrupt, with --offline or verify), 9 locked by another run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.data import DATASETS, downloads, placing  # noqa: E402
from helpers.data.transfer import DownloadError, NotVerifiedError  # noqa: E402

COMMANDS = ("list", "download", "verify", "remove", "import")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="list",
                        help=f"{', '.join(COMMANDS)} (default: list; "
                             f"dataset names alone = download)")
    parser.add_argument("items", nargs="*", help=f"datasets ({', '.join(downloads.REGISTRY)} "
                                                 f"or all) or, for import, files")
    parser.add_argument("--list", action="store_true", help="same as the list command")
    parser.add_argument("--data-dir", help="data directory (default: $TAI_DATA_DIR or <repo>/data)")
    parser.add_argument("--offline", action="store_true",
                        help="never connect: download becomes verify")
    parser.add_argument("--print-urls", action="store_true",
                        help="print the files to fetch by hand, with sizes and checksums")
    parser.add_argument("--retries", type=int, default=downloads.RETRIES,
                        help="attempts per mirror (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=downloads.READ_TIMEOUT,
                        help="seconds without data before a connection is given up "
                             "(default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command not in COMMANDS:          # `download.py svhn mnist`
        args.command, args.items = "download", [args.command, *args.items]
    if args.list:
        args.command = "list"
    if args.print_urls:
        print(manual_instructions(_names(parser, args.items or ["all"])))
        return 0
    try:
        if args.command == "import":
            if not args.items:
                parser.error("import needs the files to import")
            return _import(args)
        if args.command == "list":
            return _list(args)
        names = _names(parser, args.items or (["all"] if args.command == "verify" else []))
        if args.command == "remove":
            for name in names:
                removed = downloads.remove(name, args.data_dir)
                print(f"{name}: removed {len(removed)} path(s)" if removed
                      else f"{name}: nothing to remove")
            return 0
        if args.command == "verify" or args.offline:
            return _verify(names, args.data_dir, offline=args.offline)
        return _download(names, args)
    except KeyboardInterrupt:
        print("Interrupted; a partial download is kept and resumes on the next run.",
              file=sys.stderr)
        return 130
    except DownloadError as error:
        print(error, file=sys.stderr)
        return error.exit_code


def _names(parser: argparse.ArgumentParser, items: list[str]) -> list[str]:
    if not items:
        parser.error(f"name the datasets: {', '.join(downloads.REGISTRY)} or all")
    names = list(downloads.REGISTRY) if items == ["all"] else items
    unknown = [name for name in names if name not in downloads.REGISTRY]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; "
                     f"choose from {', '.join(downloads.REGISTRY)} or all")
    return names


def _list(args) -> int:
    root = downloads.data_root(args.data_dir)
    keys = list(dict.fromkeys([*downloads.REGISTRY, *DATASETS]))
    for key in keys:
        if key not in downloads.REGISTRY:
            print(f"{key:14s} {DATASETS[key].title:18s} stand-in only")
            continue
        found = downloads.status(key, root)
        detail = ", ".join(f"{name}: {state}" for name, state in found.files.items()
                           if state != found.state)
        print(f"{key:14s} {downloads.REGISTRY[key].title:18s} {found.state:10s} {detail}".rstrip())
    print(f"data directory: {root}")
    corrupt = placing.corrupt_files(root)
    if corrupt:
        print(f"{len(corrupt)} file(s) failed their checksum and are kept aside, never used: "
              f"{', '.join(p.name for p in corrupt)}")
    return 0


def _verify(names: list[str], data_dir, offline: bool) -> int:
    failed = False
    for name in names:
        problems = downloads.verify(name, data_dir)
        print(f"{name}: verified" if not problems else "\n".join(problems))
        failed |= bool(problems)
    if failed:
        how = "--offline makes no connection; run without it" if offline else "run"
        error = NotVerifiedError(f"Not verified ({how}: python data_scripts/download.py "
                                 f"{' '.join(names)}), or fetch the files elsewhere and "
                                 f"`import` them.")
        print(error, file=sys.stderr)
        return error.exit_code
    return 0


def _download(names: list[str], args) -> int:
    code = 0
    for name in names:
        try:
            found = downloads.fetch(name, args.data_dir, retries=args.retries,
                                    timeout=args.timeout, progress=not args.quiet)
            print(f"{name}: {found.state} in {found.root}")
        except DownloadError as error:
            print(error, file=sys.stderr)
            code = code or error.exit_code
    return code


def _import(args) -> int:
    code = 0
    for item in args.items:
        try:
            key, name = downloads.import_file(item, args.data_dir)
            print(f"{item}: verified as {key}/{name}, placed in "
                  f"{downloads.data_root(args.data_dir)}")
        except (DownloadError, ValueError) as error:
            print(error, file=sys.stderr)
            code = code or getattr(error, "exit_code", 1)
    return code


def manual_instructions(names: list[str]) -> str:
    """What to fetch by hand for ``names``: mirrors, size, SHA-256/MD5, then how to import."""
    lines = []
    for name in names:
        info = downloads.REGISTRY[name]
        lines += [f"# {name}: {info.title} ({info.homepage})",
                  f"#   checksums: {info.checksum_source}"]
        for remote in info.files:
            size = f"{remote.size:,} bytes" if remote.size else "size not published"
            lines.append(f"{remote.name}  ({size})")
            lines.append(f"  sha256 {remote.sha256}" if remote.sha256 else
                         "  sha256 not published; checked by member (importable loose too): " +
                         ", ".join(f"{member} {sha}" for member, sha in remote.members))
            if remote.md5:
                lines.append(f"  md5    {remote.md5}")
            lines += [f"  {url}" for url in downloads.mirrors(name, remote)]
    lines.append("Then: python data_scripts/download.py import FILE... [--data-dir DIR] "
                 "(checks each file, then places it; sha256sum FILE shows a file's checksum)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
