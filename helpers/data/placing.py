"""Placing verified files into the data directory, the record of what was placed, the lock.

Everything the tool keeps for itself lives in ``<data dir>/.downloads/``: partial
downloads (``<name>.part``), files that failed their checksum (``<name>.corrupt``), one
lock file and one record (``<key>.json``) per dataset. The record lists every placed
file with its size and SHA-256, so ``verify`` can re-check extracted files whose own
checksums nobody publishes. Files reach their final path only by ``os.replace`` from a
verified temporary file, so a crash never leaves a plausible-looking partial dataset.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from helpers.data.transfer import ChecksumError, LockTimeoutError, file_hashes, os_error
from helpers.paths import atomic_write_text

STATE_DIR = ".downloads"


def writable(path: Path) -> Path:
    """``path`` created if missing and probed for writing; raises UnwritableError/DiskFullError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        raise os_error(error, path, "creating a file in") from error
    return path


def state_dir(base: Path) -> Path:
    folder = base / STATE_DIR
    try:
        folder.mkdir(exist_ok=True)
    except OSError as error:
        raise os_error(error, folder, "creating") from error
    return folder


@contextlib.contextmanager
def locked(base: Path, key: str, timeout: float):
    """Hold ``<data dir>/.downloads/<key>.lock``; concurrent runs wait here for each other."""
    from filelock import FileLock, Timeout

    path = state_dir(base) / f"{key}.lock"
    lock = FileLock(path)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print(f"{key}: another run is using {base}; waiting for it (lock {path}).",
                  file=sys.stderr)
            lock.acquire(timeout=timeout)
    except Timeout:
        raise LockTimeoutError(f"{key}: still locked by another run after {timeout:.0f} s "
                               f"({path}). If no other run is active, delete that file.") from None
    except OSError as error:
        raise os_error(error, path, "locking") from error
    try:
        yield
    finally:
        lock.release()


def read_manifest(base: Path, key: str) -> dict:
    path = base / STATE_DIR / f"{key}.json"
    try:
        return json.loads(path.read_text())["files"]
    except (OSError, ValueError, KeyError):
        return {}


def _write_manifest(base: Path, key: str, files: dict) -> None:
    path = state_dir(base) / f"{key}.json"
    try:
        atomic_write_text(path, json.dumps({"dataset": key, "files": files}, indent=1,
                                           sort_keys=True))
    except OSError as error:
        raise os_error(error, path, "writing") from error


def _record(base: Path, key: str, name: str, entry: dict | None) -> None:
    files = read_manifest(base, key)
    if entry is None:
        files.pop(name, None)
    else:
        files[name] = entry
    _write_manifest(base, key, files)


def recorded_ok(base: Path, entry: dict | None) -> bool:
    """Whether every file the record lists is there with its recorded size (no hashing)."""
    return bool(entry) and all((base / rel).is_file() and (base / rel).stat().st_size == size
                               for rel, (size, _) in entry["placed"].items())


def _kept_artifact(base: Path, remote) -> Path | None:
    """Where the published file itself stays after placing (copy, gunzip), else None."""
    if remote.place == "copy":
        return base / remote.target
    if remote.place == "gunzip":
        return (base / remote.target).with_name(remote.name)
    return None


def adopt_if_valid(base: Path, key: str, remote) -> bool:
    """True if ``remote`` is already in place and verified (recording files placed by hand
    whose SHA-256 matches); a kept file with a wrong checksum is moved aside."""
    if recorded_ok(base, read_manifest(base, key).get(remote.name)):
        return True
    artifact = _kept_artifact(base, remote)
    if artifact is None or not artifact.is_file():
        return False
    if file_hashes(artifact)[0] != remote.sha256:
        _aside(base, artifact)
        return False
    source = f"found in place: {artifact}"
    if remote.place == "copy":
        _record(base, key, remote.name, {"sha256": remote.sha256, "source": source, "placed": {
            remote.target: [artifact.stat().st_size, remote.sha256]}})
    else:                                      # re-unpack: the .gz is small, its content not
        part = state_dir(base) / f"{remote.name}.part"
        copy_file(artifact, part)
        place(base, key, remote, part, source=source)
    return True


def check(base: Path, key: str, remote) -> list[str]:
    """Re-hash what ``remote`` placed; problems as sentences ([] = verified)."""
    label = f"{key}/{remote.name}"
    entry = read_manifest(base, key).get(remote.name)
    if entry is None:
        artifact = _kept_artifact(base, remote)
        existed = artifact is not None and artifact.is_file()
        if adopt_if_valid(base, key, remote):
            return []
        if existed:
            return [f"{label}: fails its checksum (moved aside); download it again"]
        if any((base / path).exists() for path in remote.provides):
            return [f"{label}: present but not placed by this tool, so it cannot be "
                    f"verified; `import` the original file or download it again"]
        return [f"{label}: missing"]
    problems = []
    for rel, (size, sha256) in entry["placed"].items():
        path = base / rel
        if not path.is_file():
            problems.append(f"{label}: {rel} is missing")
        elif path.stat().st_size != size or file_hashes(path)[0] != sha256:
            _aside(base, path)
            problems.append(f"{label}: {rel} fails its checksum (moved aside); "
                            f"download it again")
    if problems:
        _record(base, key, remote.name, None)
    return problems


def _aside(base: Path, path: Path) -> None:
    """Move a file that failed its checksum to .downloads/<its path>.corrupt (never read)."""
    state = state_dir(base)
    if path.parent == state:                   # a download: <name>.part -> <name>.corrupt
        name = path.name.removesuffix(".part")
    else:                                      # a placed file: svhn/x.mat -> svhn__x.mat
        name = "__".join(path.relative_to(base).parts)
    corrupt = state / f"{name}.corrupt"
    os.replace(path, corrupt)
    print(f"checksum mismatch: {path} moved aside to {corrupt}", file=sys.stderr)


def copy_file(source: Path, destination: Path) -> str:
    """Copy ``source`` to ``destination`` and return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as reader, open(destination, "wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                writer.write(block)
    except OSError as error:
        raise os_error(error, destination, "writing") from error
    return digest.hexdigest()


def place(base: Path, key: str, remote, part: Path, source: str) -> None:
    """Move the verified download ``part`` into the layout and record what was placed."""
    try:
        placed = _PLACERS[remote.place](base, remote, part)
    except OSError as error:                   # e.g. disk full while unpacking
        shutil.rmtree(state_dir(base) / f"{remote.name}.extract", ignore_errors=True)
        raise os_error(error, base, "placing files in") from error
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, gzip.BadGzipFile) as error:
        _aside(base, part)
        raise ChecksumError(f"{key}/{remote.name}: unreadable archive ({error}); "
                            f"moved aside, download it again") from error
    _record(base, key, remote.name, {"sha256": remote.sha256, "source": source,
                                     "placed": placed})


def place_member(base: Path, key: str, remote, part: Path, member: str, source: str) -> None:
    """Move one verified loose ``member`` of archive ``remote`` to where unpacking the
    archive puts it. The archive is recorded as placed once every member is there with
    its SHA-256 (until then ``status`` says incomplete and nothing is recorded)."""
    target = base / remote.target
    try:
        target.mkdir(parents=True, exist_ok=True)
        os.replace(part, target / member)
    except OSError as error:
        raise os_error(error, base, "placing files in") from error
    placed = {str((target / name).relative_to(base)): [(target / name).stat().st_size, sha256]
              for name, sha256 in remote.members
              if (target / name).is_file() and file_hashes(target / name)[0] == sha256}
    if len(placed) == len(remote.members):
        _record(base, key, remote.name, {"sha256": remote.sha256, "source": source,
                                         "placed": placed})


def _copy(base: Path, remote, part: Path) -> dict:
    destination = base / remote.target
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, destination)
    return {remote.target: [destination.stat().st_size, remote.sha256]}


def _gunzip(base: Path, remote, part: Path) -> dict:
    destination = base / remote.target
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".tmp")
    digest = hashlib.sha256()
    try:
        with gzip.open(part, "rb") as reader, open(temporary, "wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                digest.update(block)
                writer.write(block)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, destination)
    kept = destination.with_name(remote.name)
    os.replace(part, kept)
    return {remote.target: [destination.stat().st_size, digest.hexdigest()],
            str(kept.relative_to(base)): [kept.stat().st_size, remote.sha256]}


def _untar(base: Path, remote, part: Path) -> dict:
    staging = state_dir(base) / f"{remote.name}.extract"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(part) as archive:
        archive.extractall(staging, filter="data")   # no absolute paths, links out, devices
    target = base / remote.target
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for entry in sorted(staging.iterdir()):
        destination = target / entry.name
        _delete(destination)
        os.replace(entry, destination)
        moved.append(destination)
    staging.rmdir()
    part.unlink()
    files = [path for entry in moved
             for path in ([entry] if entry.is_file() else sorted(entry.rglob("*")))
             if path.is_file()]
    return {str(p.relative_to(base)): [p.stat().st_size, file_hashes(p)[0]] for p in files}


def _unzip(base: Path, remote, part: Path) -> dict:
    staging = state_dir(base) / f"{remote.name}.extract"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    with zipfile.ZipFile(part) as archive:
        by_name = {Path(info.filename).name: info for info in archive.infolist()
                   if not info.is_dir()}
        for name, sha256 in remote.members:
            if name not in by_name:
                _aside(base, part)
                raise ChecksumError(f"{remote.name} has no member {name}; moved aside")
            with archive.open(by_name[name]) as reader, open(staging / name, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
            actual = file_hashes(staging / name)[0]
            if actual != sha256:
                shutil.rmtree(staging)
                _aside(base, part)
                raise ChecksumError(f"{remote.name}: member {name} has sha256 {actual}, "
                                    f"expected {sha256}; the archive was moved aside, never used")
    target = base / remote.target
    target.mkdir(parents=True, exist_ok=True)
    placed = {}
    for name, sha256 in remote.members:
        os.replace(staging / name, target / name)
        placed[str((target / name).relative_to(base))] = [(target / name).stat().st_size, sha256]
    staging.rmdir()
    part.unlink()
    return placed


_PLACERS = {"copy": _copy, "gunzip": _gunzip, "untar": _untar, "unzip": _unzip}


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def remove(base: Path, key: str, files) -> list[Path]:
    """Delete the top-level folders/files the dataset's ``files`` provide, its partial and
    corrupt downloads and its record. Returns what was deleted."""
    tops = {base / Path(path).parts[0] for remote in files for path in remote.provides}
    state = base / STATE_DIR
    leftovers = [state / f"{remote.name}{suffix}" for remote in files
                 for suffix in (".part", ".corrupt", ".extract")]
    leftovers += [path for top in tops for path in state.glob(f"{top.name}__*.corrupt")]
    removed = [path for path in sorted(tops) + leftovers + [state / f"{key}.json"]
               if path.exists()]
    try:
        for path in removed:
            _delete(path)
    except OSError as error:
        raise os_error(error, base, "removing files from") from error
    return removed


def corrupt_files(base: Path) -> list[Path]:
    """Files kept aside after a failed checksum (for the listing)."""
    return sorted((base / STATE_DIR).glob("*.corrupt"))

