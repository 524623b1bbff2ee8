"""The one registry of the real datasets' remote files, and fetching, verifying, removing them.

>>> from helpers.data import downloads
>>> downloads.status("svhn").state          # doctest: +SKIP
'missing'
>>> downloads.fetch("svhn")                 # doctest: +SKIP

Each dataset key (the keys of ``helpers.data``) maps to the files it is published as:
their mirrors, SHA-256 (and torchvision's MD5 where it has one), size, and how they are
placed in the data directory (the layout torchvision uses, so its readers work too).
A file is placed only after its SHA-256 matches; what was placed is recorded with its own
size and SHA-256 in ``<data dir>/.downloads/<key>.json`` so that ``verify`` can re-check
extracted files later. ``$TAI_DATA_MIRRORS`` (space-separated base URLs) replaces the
published mirrors: file ``name`` of dataset ``key`` is then fetched from ``<base>/<key>/<name>``
(a course server, or the tests' local server).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from helpers.data import placing
# The error classes are re-exported so that callers catch downloads.DownloadError etc.
from helpers.data.transfer import (READ_TIMEOUT, RETRIES, ChecksumError,  # noqa: F401
                                   DiskFullError, DownloadError, LockTimeoutError,
                                   NoNetworkError, NotVerifiedError, UnavailableError,
                                   UnwritableError, fetch_verified, file_hashes)

MIRRORS_ENV_VAR = "TAI_DATA_MIRRORS"
LOCK_TIMEOUT = 3600.0   # seconds a run waits for another run on the same dataset


@dataclass(frozen=True)
class RemoteFile:
    """One published file and where it goes.

    ``place``: "copy" (``target`` is the file), "gunzip" (``target`` is the decompressed
    file; the .gz is kept next to it, as torchvision does), "untar" (``target`` is the
    folder the archive's top-level entries go to; "" = the data directory) or "unzip"
    (only ``members`` are placed, by base name, into the folder ``target``).
    ``sha256`` is that of the published file; it is None only for an archive with no
    published checksum, whose ``members`` ((name, sha256) pairs) are checked instead.
    ``provides``: paths under the data directory that exist once the file is placed.
    """

    name: str
    urls: tuple[str, ...]
    sha256: str | None
    place: str
    target: str
    provides: tuple[str, ...]
    size: int | None = None
    md5: str | None = None
    members: tuple[tuple[str, str], ...] = ()
    split: str | None = None        # the split that needs this file (None: every split)


@dataclass(frozen=True)
class RemoteDataset:
    title: str
    homepage: str
    checksum_source: str
    files: tuple[RemoteFile, ...]


_TORCHVISION_SHA256 = ("SHA-256 from torchvision's prototype datasets "
                       "(pytorch/vision torchvision/prototype/datasets/_builtin/); "
                       "MD5 from torchvision.datasets")
_MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_files(folder: str, bases: tuple[str, ...], checksums) -> tuple[RemoteFile, ...]:
    """The four gzipped idx files of an MNIST-like dataset, unpacked into ``folder``."""
    return tuple(RemoteFile(f"{name}.gz", tuple(f"{base}{name}.gz" for base in bases), sha256,
                            "gunzip", f"{folder}/{name}", (f"{folder}/{name}",), size, md5)
                 for name, (sha256, md5, size) in zip(_MNIST_NAMES, checksums))


def _svhn_file(split: str, sha256: str, md5: str, size: int) -> RemoteFile:
    path = f"svhn/{split}_32x32.mat"
    return RemoteFile(f"{split}_32x32.mat",
                      (f"http://ufldl.stanford.edu/housenumbers/{split}_32x32.mat",),
                      sha256, "copy", path, (path,), size, md5, split=split)


_PETS = ("https://thor.robots.ox.ac.uk/datasets/pets/",
         "https://www.robots.ox.ac.uk/~vgg/data/pets/data/")
# UCI publishes no checksum for adult.zip. These are the SHA-256 of adult.data/adult.test
# as UCI distributed them, recorded by several independent projects; should the zip ever
# hold other bytes, the member check fails loudly (ChecksumError) instead of using them.
_ADULT_MEMBERS = (
    ("adult.data", "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d"),
    ("adult.test", "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05"))
_CIFAR_BATCHES = tuple(f"cifar-10-batches-py/{name}" for name in (
    "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
    "test_batch", "batches.meta"))

REGISTRY: dict[str, RemoteDataset] = {
    "svhn": RemoteDataset("SVHN", "http://ufldl.stanford.edu/housenumbers/", _TORCHVISION_SHA256, (
        _svhn_file("train", "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
                   "e26dedcc434d2e4c54c9b2d4a06d8373", 182040794),
        _svhn_file("test", "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
                   "eb5a983be6a315427106f1b164d9cef3", 64275384))),
    "mnist": RemoteDataset("MNIST", "http://yann.lecun.com/exdb/mnist/", _TORCHVISION_SHA256,
                           _idx_files("MNIST/raw", (
                               "https://ossci-datasets.s3.amazonaws.com/mnist/",
                               "https://storage.googleapis.com/cvdf-datasets/mnist/",
                               "http://yann.lecun.com/exdb/mnist/"), (
        ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
         "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
        ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
         "d53e105ee54ea40749a09fcbcd1e9432", 28881),
        ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
         "9fb629c4189551a2d022fa330f9573f3", 1648877),
        ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
         "ec29112dd5afa0611ce80d1b7f02629c", 4542)))),
    "fashion_mnist": RemoteDataset(
        "Fashion-MNIST", "https://github.com/zalandoresearch/fashion-mnist", _TORCHVISION_SHA256,
        _idx_files("FashionMNIST/raw", (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
            "data/fashion/"), (
            ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
             "8d4fb7e6c68d591d4c3dfef9ec88bf0d", None),
            ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
             "25c81989df183df01b3e8a0aad5dffbe", None),
            ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
             "bef4ecab320f06d8554ea6380940ec79", None),
            ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
             "bb300cfdad3c16e7a12a480ee83cd310", None)))),
    "cifar10": RemoteDataset("CIFAR-10", "https://www.cs.toronto.edu/~kriz/cifar.html",
                             _TORCHVISION_SHA256, (
        RemoteFile("cifar-10-python.tar.gz",
                   ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                   "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                   "untar", "", _CIFAR_BATCHES, 170498071, "c58f30108f718f92721af3b95e74349a"),)),
    "adult": RemoteDataset(
        "UCI Adult", "https://archive.ics.uci.edu/dataset/2/adult",
        "no published SHA-256 for adult.zip; its members adult.data/adult.test are checked "
        "against the SHA-256 that independent projects publish for the UCI files", (
            RemoteFile("adult.zip", ("https://archive.ics.uci.edu/static/public/2/adult.zip",),
                       None, "unzip", "adult", ("adult/adult.data", "adult/adult.test"),
                       members=_ADULT_MEMBERS),)),
    "pets": RemoteDataset("Oxford-IIIT Pet", "https://www.robots.ox.ac.uk/~vgg/data/pets/",
                          _TORCHVISION_SHA256, (
        RemoteFile("images.tar.gz", tuple(f"{base}images.tar.gz" for base in _PETS),
                   "67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",
                   "untar", "oxford-iiit-pet", ("oxford-iiit-pet/images",), 791918971,
                   "5c4f3ee8e5d25df40f4fd59a7f44e54c"),
        RemoteFile("annotations.tar.gz", tuple(f"{base}annotations.tar.gz" for base in _PETS),
                   "52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91",
                   "untar", "oxford-iiit-pet", ("oxford-iiit-pet/annotations/trainval.txt",
                                                "oxford-iiit-pet/annotations/test.txt"),
                   19173078, "95a8c909bbe2e81eed6a22bccdf3f68f"))),
}


@dataclass(frozen=True)
class DatasetStatus:
    """``state``: "verified" (placed by this tool, sizes as recorded), "present" (all files
    there, not verified), "incomplete" or "missing". ``files``: state per remote file."""

    key: str
    state: str
    files: dict[str, str]
    root: Path


def dataset(key: str) -> RemoteDataset:
    if key not in REGISTRY:
        raise ValueError(f"key={key!r}: no remote files known; known: {', '.join(REGISTRY)}.")
    return REGISTRY[key]


def mirrors(key: str, remote: RemoteFile) -> list[str]:
    """The URLs to try for ``remote``, in order ($TAI_DATA_MIRRORS replaces the published ones)."""
    bases = os.environ.get(MIRRORS_ENV_VAR, "").split()
    if bases:
        return [f"{base.rstrip('/')}/{key}/{remote.name}" for base in bases]
    return list(remote.urls)


def data_root(root: str | Path | None = None) -> Path:
    """The data directory (``root``, else $TAI_DATA_DIR or the default), created and writable."""
    from helpers.paths import data_dir

    if root is None:
        try:
            return data_dir()
        except PermissionError as error:
            raise UnwritableError(str(error)) from error
    return placing.writable(Path(root).expanduser())


def present(key: str, split: str | None = None, root: str | Path | None = None) -> bool:
    """Whether the files ``split`` of dataset ``key`` needs are in the data directory."""
    base = data_root(root)
    return all((base / path).exists() for remote in dataset(key).files
               if split is None or remote.split in (None, split) for path in remote.provides)


def status(key: str, root: str | Path | None = None) -> DatasetStatus:
    """A quick look (no hashing): what of dataset ``key`` is in the data directory."""
    base = data_root(root)
    record = placing.read_manifest(base, key)
    files = {}
    for remote in dataset(key).files:
        found = [(base / path).exists() for path in remote.provides]
        if placing.recorded_ok(base, record.get(remote.name)):
            files[remote.name] = "verified"
        else:
            files[remote.name] = ("present" if all(found) else
                                  "incomplete" if any(found) else "missing")
    states = set(files.values())
    state = (states.pop() if len(states) == 1 else
             "present" if states <= {"verified", "present"} else
             "missing" if states == {"missing"} else "incomplete")
    return DatasetStatus(key, state, files, base)


def fetch(key: str, root: str | Path | None = None, *, retries: int = RETRIES,
          timeout: float = READ_TIMEOUT, progress: bool = True,
          lock_timeout: float = LOCK_TIMEOUT) -> DatasetStatus:
    """Download, verify and place every file of dataset ``key`` that is not yet verified.

    Safe to run concurrently on the same directory (a lock file serializes runs; the
    second finds the files verified). Raises a :class:`DownloadError` subclass naming the
    cause; returns the final :func:`status`.
    """
    info, base = dataset(key), data_root(root)
    if retries < 1:
        raise ValueError(f"retries={retries}: expected at least 1.")
    with placing.locked(base, key, lock_timeout):
        for remote in info.files:
            if placing.adopt_if_valid(base, key, remote):
                continue
            part = placing.state_dir(base) / f"{remote.name}.part"
            url = fetch_verified(mirrors(key, remote), part, remote.sha256,
                                 label=f"{key}/{remote.name}", retries=retries,
                                 timeout=timeout, progress=progress)
            placing.place(base, key, remote, part, source=url)
    return status(key, base)


def verify(key: str, root: str | Path | None = None,
           lock_timeout: float = LOCK_TIMEOUT) -> list[str]:
    """Re-hash dataset ``key``'s files (no network). Returns the problems found ([] = verified).

    A file whose SHA-256 differs from the one recorded is moved aside as ``.corrupt`` in
    ``<data dir>/.downloads/`` so that no loader reads it; ``fetch`` then fetches it again.
    """
    info, base = dataset(key), data_root(root)
    with placing.locked(base, key, lock_timeout):
        return [problem for remote in info.files
                for problem in placing.check(base, key, remote)]


def remove(key: str, root: str | Path | None = None,
           lock_timeout: float = LOCK_TIMEOUT) -> list[Path]:
    """Delete dataset ``key``'s files, partial downloads and record. Returns what was removed."""
    info, base = dataset(key), data_root(root)
    with placing.locked(base, key, lock_timeout):
        return placing.remove(base, key, info.files)


def identify(path: str | Path, sha256: str | None = None) -> tuple[str, RemoteFile]:
    """The (key, remote file) that the file at ``path`` is, by SHA-256 (or name, for an
    archive checked by member). Raises ``ChecksumError`` when it is none of them.
    ``sha256``: the file's, if already computed."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path={str(path)!r}: not a file.")
    sha256 = sha256 or file_hashes(path)[0]
    for key, info in REGISTRY.items():
        for remote in info.files:
            if remote.sha256 == sha256 or (remote.sha256 is None and remote.name == path.name):
                return key, remote
    same_name = [f"{key}/{r.name} (sha256 {r.sha256})" for key, info in REGISTRY.items()
                 for r in info.files if r.name == path.name]
    hint = f" A file of that name is expected as: {'; '.join(same_name)}." if same_name else ""
    raise ChecksumError(f"{path} (sha256 {sha256}) is none of the files the kit knows; it may "
                        f"be truncated or a different version.{hint} See --print-urls.")


def archive_member(sha256: str) -> tuple[str, RemoteFile, str] | None:
    """(key, archive, member name) if a file of SHA-256 ``sha256`` is a member of an
    archive checked by member (e.g. a loose ``adult.data`` from ``adult.zip``), else None.
    """
    for key, info in REGISTRY.items():
        for remote in info.files:
            for member, expected in remote.members:
                if expected == sha256:
                    return key, remote, member
    return None


def import_file(path: str | Path, root: str | Path | None = None,
                lock_timeout: float = LOCK_TIMEOUT) -> tuple[str, str]:
    """Verify a file fetched elsewhere and place it like a download (the original is kept).

    The file is a published file, or a loose member of an archive checked by member
    (``adult.data``/``adult.test`` without ``adult.zip``), verified by the member's
    SHA-256 and placed where the archive puts it. Returns (dataset key, the name it was
    verified as: ``remote.name`` or the member's name).
    """
    if not Path(path).is_file():
        raise ValueError(f"path={str(path)!r}: not a file.")
    sha256 = file_hashes(path)[0]
    member = archive_member(sha256)
    key, remote = (member[0], member[1]) if member else identify(path, sha256)
    base = data_root(root)
    with placing.locked(base, key, lock_timeout):
        name = member[2] if member else remote.name
        part = placing.state_dir(base) / f"{name}.part"
        copied = placing.copy_file(Path(path), part)
        expected = dict(remote.members)[name] if member else remote.sha256
        if expected is not None and copied != expected:
            part.unlink()
            raise ChecksumError(f"{path} changed while it was being imported; try again.")
        source = f"import {Path(path).resolve()}"
        if member:
            placing.place_member(base, key, remote, part, name, source=source)
        else:
            placing.place(base, key, remote, part, source=source)
    return key, name
