"""Fetching one remote file: mirrors, retries with backoff, resumable (HTTP Range) transfers.

The registry and the placing of files live in :mod:`helpers.data.downloads`; this module
only turns a list of mirror URLs into a file on disk whose SHA-256 matches. HTTP goes
through ``requests``. We do not use ``pooch`` for the transfer: its ``HTTPDownloader``
always rewrites the output from byte 0 (no ``Range`` request, no look at a 206 answer),
deletes a file whose hash does not match, and knows one URL per file; those are exactly
the parts this kit needs, so they are written here, in a few lines each.

Errors are subclasses of :class:`DownloadError`, each with the exit code the command-line
tool returns for that cause.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sys
import time
from pathlib import Path

CHUNK_BYTES = 1 << 16
CONNECT_TIMEOUT = 15.0     # seconds to open a connection
READ_TIMEOUT = 60.0        # seconds without a byte before we give up on a transfer
RETRIES = 3                # attempts per mirror for transient failures
BACKOFF_SECONDS = 1.0      # wait before retry k is BACKOFF_SECONDS * 2**(k-1)
GONE = (401, 403, 404, 410)  # statuses that will not change on a retry


class DownloadError(Exception):
    """A download, verification or placement failed; ``exit_code`` names the cause."""

    exit_code = 1


class NoNetworkError(DownloadError):
    exit_code = 3


class UnavailableError(DownloadError):
    """Every mirror answered, but none served the file (404, 403, 5xx ...)."""

    exit_code = 4


class ChecksumError(DownloadError):
    exit_code = 5


class DiskFullError(DownloadError):
    exit_code = 6


class UnwritableError(DownloadError):
    exit_code = 7


class NotVerifiedError(DownloadError):
    """Offline or ``verify``: a dataset is missing, incomplete or fails its checksum."""

    exit_code = 8


class LockTimeoutError(DownloadError):
    exit_code = 9


class _Transient(Exception):
    """A failure worth retrying on the same mirror (timeout, reset, 5xx, short read)."""


class _Gone(Exception):
    """The mirror answered that it does not have the file."""


def file_hashes(path: Path) -> tuple[str, str]:
    """``(sha256, md5)`` hex digests of the file at ``path``, read in chunks."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def os_error(error: OSError, path: Path, action: str) -> DownloadError:
    """The :class:`DownloadError` for an ``OSError`` raised while writing under ``path``."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"Disk full while {action} {path}: free some space (or point "
                             f"--data-dir / $TAI_DATA_DIR at a larger disk) and run the "
                             f"command again; a partial download resumes where it stopped.")
    if isinstance(error, PermissionError) or error.errno in (errno.EACCES, errno.EROFS,
                                                             errno.EPERM, errno.ENOTDIR):
        return UnwritableError(f"Cannot write to {path} ({error.strerror}). Use a directory "
                               f"you can write to: --data-dir DIR or export TAI_DATA_DIR=DIR.")
    return DownloadError(f"{action} {path} failed: {error}")


def fetch_verified(urls: list[str], part: Path, sha256: str | None, *, label: str,
                   retries: int = RETRIES, timeout: float = READ_TIMEOUT,
                   progress: bool = True) -> str:
    """Download from the first mirror that delivers bytes with the expected ``sha256``.

    Bytes go to ``part`` (resumed with a Range request if it exists); on success ``part``
    holds the whole file and the URL used is returned. A file whose hash differs is
    renamed to ``<name>.corrupt`` (kept for inspection, never used) and fetched again from
    the same mirror once more, then from the next one. ``sha256=None`` accepts any
    content (archives checked by member).
    Raises the :class:`DownloadError` subclass for the cause when every mirror fails;
    nothing but an interrupted partial file (which the next run resumes) stays behind.
    """
    import requests

    failures: list[tuple[str, str, type[DownloadError]]] = []
    with requests.Session() as session:
        session.headers.update({"Accept-Encoding": "identity",
                                "User-Agent": "trustworthy-ai-kit data_scripts"})
        for url in urls:
            for _ in range(2):          # after a mismatch, fetch once more from scratch
                outcome = _try_mirror(session, url, part, retries, timeout, progress, label)
                if outcome is not None:
                    failures.append((url, *outcome))
                    break
                actual = file_hashes(part)[0]
                if sha256 is None or actual == sha256:
                    return url
                corrupt = part.with_name(part.name.removesuffix(".part") + ".corrupt")
                os.replace(part, corrupt)
                print(f"{label}: checksum mismatch from {url}; kept aside as {corrupt}, "
                      f"fetching again", file=sys.stderr)
                failures.append((url, f"checksum mismatch: sha256 {actual}, expected "
                                      f"{sha256}; kept aside as {corrupt}", ChecksumError))
    if part.exists() and part.stat().st_size == 0:
        part.unlink()                          # nothing worth resuming
    raise _summarize(label, failures)


def _try_mirror(session, url: str, part: Path, retries: int, timeout: float, progress: bool,
                label: str) -> tuple[str, type[DownloadError]] | None:
    """Fetch ``url`` into ``part`` with retries; None on success, else (reason, error class)."""
    import requests

    reason: tuple[str, type[DownloadError]] = ("no attempt", DownloadError)
    for attempt in range(1, retries + 1):
        if attempt > 1:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 2))
        try:
            _transfer(session, url, part, timeout, progress, label)
            return None
        except _Gone as gone:
            return str(gone), UnavailableError
        except _Transient as transient:
            reason = (str(transient), UnavailableError)
        except requests.exceptions.ConnectionError as error:
            # Also what a dropped connection mid-body looks like when it is re-raised by
            # requests; with bytes already on disk the next attempt resumes them.
            reason = (f"cannot connect: {_root_cause(error)}", NoNetworkError)
        except requests.exceptions.Timeout as error:
            reason = (f"timed out: {_root_cause(error)}", NoNetworkError)
        except requests.exceptions.RequestException as error:
            reason = (f"request failed: {_root_cause(error)}", UnavailableError)
        print(f"{label}: attempt {attempt}/{retries} from {url} failed ({reason[0]})",
              file=sys.stderr)
    return reason


def _transfer(session, url: str, part: Path, timeout: float, progress: bool,
              label: str) -> None:
    """One GET of ``url`` appended to ``part`` from its current size (Range), or restarted."""
    import urllib3
    from tqdm import tqdm

    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.get(url, headers=headers, stream=True,
                     timeout=(min(CONNECT_TIMEOUT, timeout), timeout)) as response:
        if response.status_code == 416 and offset:
            part.unlink()                      # the partial file is not a prefix we can use
            raise _Transient("server refused to resume (416); starting over")
        if response.status_code in GONE:
            raise _Gone(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise _Transient(f"HTTP {response.status_code}")
        start = _resume_offset(response, offset)
        length = int(response.headers.get("Content-Length") or 0)
        total = start + length if length else None
        bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=label, disable=not progress, file=sys.stderr, dynamic_ncols=True)
        try:
            with open(part, "r+b" if part.exists() else "wb") as handle:
                handle.seek(start)
                handle.truncate()
                for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
                    handle.write(chunk)
                    bar.update(len(chunk))
        except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as error:
            raise _Transient(f"transfer interrupted after {bar.n:,} bytes "
                             f"({_root_cause(error)}); will resume") from error
        except OSError as error:
            raise os_error(error, part, "writing") from error
        finally:
            bar.close()
        if total is not None and part.stat().st_size != total:
            raise _Transient(f"short transfer: {part.stat().st_size:,} of {total:,} bytes")


def _resume_offset(response, offset: int) -> int:
    """Where the body starts in the file: the Content-Range start of a 206, else 0."""
    if response.status_code != 206:
        return 0                               # the server sent the whole file
    content_range = response.headers.get("Content-Range", "")
    try:
        start = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        raise _Transient(f"unusable Content-Range {content_range!r}") from None
    if start > offset:
        raise _Transient(f"server resumed at byte {start}, after our {offset}")
    return start                               # may be < offset: the overlap is rewritten


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return f"{type(error).__name__}: {error}"[:200]


def _summarize(label: str, failures: list[tuple[str, str, type[DownloadError]]]) -> DownloadError:
    """One error for all mirrors, of the most telling cause (checksum > answered > network)."""
    causes = {cls for _, _, cls in failures}
    for cls in (ChecksumError, UnavailableError, NoNetworkError):
        if cls in causes:
            break
    else:
        cls = DownloadError
    lines = "\n".join(f"  {url}: {reason}" for url, reason, _ in failures)
    advice = {
        NoNetworkError: "No mirror could be reached: check the network (or a proxy: "
                        "HTTPS_PROXY), or fetch the files elsewhere (--print-urls) and "
                        "`import` them.",
        UnavailableError: "Every mirror answered without the file. Fetch it by hand from "
                          "a mirror listed by --print-urls and `import` it.",
        ChecksumError: "Every copy had the wrong checksum (kept aside as .corrupt, never "
                       "used). Try again later or fetch the file elsewhere and `import` it.",
    }.get(cls, "")
    return cls(f"{label}: download failed on every mirror.\n{lines}\n{advice}")
