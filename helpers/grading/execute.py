"""Run one merged submission in the sandbox and read back trusted per-cell results.

The parent (this module, outside the sandbox) feeds the code cells one at a time to
`runner.py` and waits for each reply, so the tests' source reaches the sandbox only when
the notebook gets to them. The runner enforces the per-cell time limit itself; if a
cell ignores it (it catches the timeout or blocks the signal), the parent kills the
whole sandbox ``GRACE`` seconds later and the remaining cells count as not run.
Nothing the submission prints is used for grading: stdout/stderr are only kept (up to
``Limits.output_kb``) for the instructor.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox
from .notebooks import Merged, runner_kind

_RUNNING: set[subprocess.Popen] = set()  # live sandboxes, for kill_all
_LOCK = threading.Lock()
GRACE = 10.0       # seconds past the per-cell limit before the sandbox is killed
MAX_COPY_MB = 50   # of the student's submission folder copied into the sandbox


@dataclass
class CellResult:
    """Outcome of one executed cell (``status``: ok, error, timeout, not run)."""

    index: int
    status: str
    ename: str = ""
    evalue: str = ""
    lineno: int = 0
    seconds: float = 0.0


@dataclass
class Run:
    """Everything one sandboxed run produced."""

    cells: dict[int, CellResult] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0


class _Drain(threading.Thread):
    """Reads a pipe to its end, keeping the first ``limit`` bytes (output flood guard)."""

    def __init__(self, stream, limit: int):
        super().__init__(daemon=True)
        self.stream, self.limit, self.kept, self.dropped = stream, limit, bytearray(), 0

    def run(self):
        while chunk := self.stream.read1(1 << 16):
            room = self.limit - len(self.kept)
            self.kept += chunk[:max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self) -> str:
        note = f"\n[... {self.dropped} more bytes of output dropped]" if self.dropped else ""
        return self.kept.decode("utf-8", "replace") + note


def _copy_submission(folder: Path | None, home: Path, uid: int | None) -> None:
    """Copy regular files of the submission folder into the sandbox home (no symlinks:
    a link in a submission must not make the grader read a host file)."""
    if folder is None:
        return
    budget = MAX_COPY_MB << 20
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > budget:
            continue
        budget -= path.stat().st_size
        target = home / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    if uid is not None:
        for path in [home, *home.rglob("*")]:
            os.chown(path, uid, uid)


def _read_reply(fd: int, deadline: float, buffer: bytearray) -> bytes | None:
    """One reply line, or None on timeout; b"" when the runner is gone."""
    while b"\n" not in buffer:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b""
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def _parse(line: bytes, nonce: str, index: int) -> tuple[CellResult, int] | None:
    """A reply line checked against its request; None if it does not match."""
    parts = line.decode("ascii", "replace").split(" ")
    if len(parts) != 7 or parts[0] != nonce or parts[1] != str(index) or \
            parts[2] not in ("ok", "error"):
        return None
    ename, evalue = (bytes.fromhex(p).decode("utf-8", "replace") if p != "-" else ""
                     for p in parts[5:7])
    status = "timeout" if ename == "CellTimeoutError" else parts[2]
    return CellResult(index, status, ename, evalue, int(parts[3])), int(parts[4])


def run(merged: Merged, folder: Path | None, limits: sandbox.Limits, slot: int = 0,
        sandboxed: bool = True) -> Run:
    """Execute ``merged``'s code cells in a fresh sandbox; never raises for student faults."""
    result, start = Run(), time.monotonic()
    code = [(i, cell) for i, cell in enumerate(merged.cells) if runner_kind(cell)]
    with sandbox.scratch(slot, limits, sandboxed) as work:
        uid = sandbox.sandbox_uid(slot) if sandboxed else None
        _copy_submission(folder, work / "home", uid)
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        argv = sandbox.command(work, slot, limits, (request_r, reply_w), sandboxed)
        env = sandbox.sandbox_env(str(work / "home")) if not sandboxed else {}
        process = subprocess.Popen(argv, pass_fds=(request_r, reply_w), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=env or None,
                                   cwd=str(work / "home"))
        with _LOCK:
            _RUNNING.add(process)
        os.close(request_r)
        os.close(reply_w)
        drain = _Drain(process.stdout, limits.output_kb << 10)
        drain.start()
        buffer = bytearray()
        try:
            if merged.references:
                refused = _send_references(request_w, reply_r, buffer, merged.references,
                                           limits)
                if refused:
                    result.flags.append(refused)
            for position, (index, cell) in enumerate(code):
                outcome = _run_cell(request_w, reply_r, buffer, index, cell, limits, result)
                if outcome is not None:  # the sandbox is gone: the rest cannot run
                    result.flags.append(outcome)
                    for later, _ in code[position:]:
                        result.cells.setdefault(later, CellResult(later, "not run"))
                    break
        finally:
            os.close(request_w)
            _stop(process, wait=0 if result.flags else 5)
            with _LOCK:
                _RUNNING.discard(process)
            os.close(reply_r)
            drain.join(timeout=5)
    result.output, result.seconds = drain.text(), time.monotonic() - start
    return result


def _send(request_w, nonce: str, kind: str, index: int, body: bytes) -> None:
    """Write one request (header line + body) to the runner."""
    os.write(request_w, f"{nonce} {kind} {index} {len(body)}\n".encode())
    view = memoryview(body)
    while view:
        view = view[os.write(request_w, view):]


def _send_references(request_w, reply_r, buffer, references, limits) -> str | None:
    """Tell the runner the lab's reference functions; a flag text if it could not
    resolve them (a mistake in the lab's metadata: the check is then off)."""
    nonce = secrets.token_hex(16)
    try:
        _send(request_w, nonce, "references", -1, "\n".join(references).encode())
    except BrokenPipeError:
        return "the runner ended before the tests started"
    line = _read_reply(reply_r, time.monotonic() + limits.timeout, buffer)
    parsed = _parse(line, nonce, -1) if line else None
    if parsed is None:
        return "the runner did not confirm the lab's reference functions"
    if parsed[0].status != "ok":
        return f"lab metadata: {parsed[0].evalue} (calls into the kit were not checked)"
    return None


def _run_cell(request_w, reply_r, buffer, index, cell, limits, result) -> str | None:
    """Send one cell and record its result; returns a flag text if the run must stop."""
    nonce = secrets.token_hex(16)
    kind = runner_kind(cell)
    body = cell["source"].encode("utf-8") if isinstance(cell["source"], str) else \
        "".join(cell["source"]).encode("utf-8")
    try:
        _send(request_w, nonce, kind, index, body)
    except BrokenPipeError:
        result.cells[index] = CellResult(index, "not run")
        return f"the submission's process ended before cell {index}"
    sent = time.monotonic()
    line = _read_reply(reply_r, sent + limits.timeout + GRACE, buffer)
    if line is None:
        result.cells[index] = CellResult(index, "timeout", "CellTimeoutError",
                                         f"killed after {limits.timeout:g} s + {GRACE:g} s")
        return f"cell {index} ignored the time limit: the sandbox was killed"
    if line == b"":
        result.cells[index] = CellResult(
            index, "error", "ProcessExited",
            "the process exited (sys.exit/os._exit, a crash or a limit)")
        return f"the submission's process exited in cell {index}"
    parsed = _parse(line, nonce, index)
    if parsed is None:
        result.cells[index] = CellResult(index, "error", "TamperingSuspected",
                                         "the reply did not match the request")
        return f"reply to cell {index} was forged or garbled (review this submission)"
    result.cells[index], threads = parsed
    result.cells[index].seconds = round(time.monotonic() - sent, 2)
    if result.cells[index].ename == "TamperingSuspected":
        result.flags.append(f"cell {index}: student code switched off the grader's call "
                            "monitor (review)")
    if kind == "test" and threads > 1:
        flag = "student code left Python threads running during tests (review)"
        if flag not in result.flags:
            result.flags.append(flag)
    return None


def kill_all() -> None:
    """Kill every running sandbox (the batch was interrupted)."""
    with _LOCK:
        for process in list(_RUNNING):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _stop(process: subprocess.Popen, wait: float) -> None:
    """End the sandbox: it exits when the request pipe closes; killed after ``wait`` s."""
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
