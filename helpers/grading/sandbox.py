"""The sandbox one submission runs in: bubblewrap + resource limits.

Inside the sandbox (built by `command`):
- no network (``--unshare-net``: only an unconfigured loopback), own PID, IPC and UTS
  namespaces, a new session (no terminal), killed with the grader (``--die-with-parent``);
- a read-only view of the system (``/usr``, ``/etc``), of the Python installation and
  of the ``helpers`` package -- and nothing else of the host: not the course folder, so
  neither ``solutions/`` (the hidden tests) nor ``gradebook.db`` exist in there;
- two writable folders, the submission's working folder ``/home/student`` (a copy of
  the student's submission folder) and a private ``/tmp``, on one size-limited tmpfs
  (``Limits.disk_mb``) when the grader runs as root, which bounds what a disk-filling
  submission can write;
- a dedicated unprivileged user per parallel slot (uid ``61000 + slot``) when the grader
  runs as root, so the process limit counts that submission's processes only;
- ``prlimit`` limits: address space (memory), CPU seconds, processes, size of any file
  written, open files, no core dumps.

Without bubblewrap, `command` refuses (`SandboxUnavailable`) unless the caller asks for
an unsandboxed run explicitly; then only the ``prlimit`` limits apply.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import helpers

HOME = "/home/student"
HELPERS_PARENT = "/opt/tai"  # `helpers` is mounted at /opt/tai/helpers
RUNNER = Path(__file__).with_name("runner.py")
BASE_UID = 61000


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or does not work here (the message says what to do)."""


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. ``timeout`` is per cell (seconds); the rest per sandbox."""

    timeout: float = 60.0
    memory_mb: int = 4096        # address space; PyTorch alone maps ~1.5 GB
    cpu_seconds: int = 900       # CPU time of the whole submission
    processes: int = 64          # processes + threads of the sandbox user
    file_mb: int = 64            # largest file the submission may write
    disk_mb: int = 256           # /home/student + /tmp together (tmpfs, as root)
    output_kb: int = 256         # stdout/stderr kept for the report (the rest is dropped)

    def __post_init__(self):
        for name, value in vars(self).items():
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")


def bubblewrap() -> str:
    """Path of a working ``bwrap``; raises `SandboxUnavailable` saying how to get one."""
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so submissions cannot be sandboxed. "
            "Install it (Debian/Ubuntu: apt-get install -y bubblewrap), or run the grader "
            "inside a container (see the instructor guide), or pass --unsandboxed to run "
            "student code with only resource limits (trusted submissions only).")
    probe = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-net", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bwrap is installed but cannot create a sandbox here ({probe.stderr.strip()}). "
            "It needs root or unprivileged user namespaces (sysctl "
            "kernel.unprivileged_userns_clone=1); in a container, start it with "
            "--privileged or --security-opt seccomp=unconfined. Or pass --unsandboxed.")
    return path


def _python_roots() -> list[Path]:
    """Folders the sandboxed interpreter needs: the venv and the base installation."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
             Path(sys.executable).resolve().parent.parent}
    return sorted(p for p in roots if not str(p).startswith("/usr"))


def _python() -> str:
    """The interpreter to run: in a venv, the venv's own ``bin/python`` (resolving it to
    the base interpreter would lose the venv's packages)."""
    if sys.prefix != sys.base_prefix:
        return str(Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name)
    return str(Path(sys.executable).resolve())


def _ancestors(path: Path) -> list[str]:
    """Parent folders of ``path`` (outermost first), which bwrap must create world-readable."""
    return [str(p) for p in reversed(path.parents) if str(p) != "/"]


def _process_count(uid: int) -> int:
    """Processes currently owned by ``uid`` (the process limit counts them all)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += entry.stat().st_uid == uid
    return count


def sandbox_uid(slot: int) -> int | None:
    """The unprivileged uid of a parallel slot when running as root, else None."""
    return BASE_UID + slot if os.geteuid() == 0 else None


def command(work: Path, slot: int, limits: Limits, fds: tuple[int, int],
            sandboxed: bool = True) -> list[str]:
    """The argv that runs `runner.py` on pipe ``fds`` (request, reply) for one submission.

    ``work`` holds ``home/`` and ``tmp/`` (see `scratch`). ``sandboxed=False`` gives the
    same runner with only the prlimit limits (the caller must have asked for it).
    """
    python = _python()
    uid = sandbox_uid(slot) if sandboxed else None
    own_processes = 0 if uid is not None else _process_count(os.getuid())
    limits_argv = ["prlimit", f"--as={limits.memory_mb << 20}", f"--cpu={limits.cpu_seconds}",
                   f"--nproc={limits.processes + own_processes}",
                   f"--fsize={limits.file_mb << 20}", "--nofile=256", "--core=0"]
    helpers_dir = Path(helpers.__file__).resolve().parent
    if not sandboxed:
        runner = [python, "-s", "-B", str(RUNNER), str(fds[0]), str(fds[1]),
                  f"{limits.timeout:g}", "0", str(helpers_dir.parent)]
        # A student's own check on a machine without util-linux (macOS): no limits.
        return (limits_argv if shutil.which("prlimit") else []) + runner
    argv = [bubblewrap(), "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
            "--proc", "/proc", "--dev", "/dev"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}"):
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    # The writable folders first: a later mount covers an earlier one, and the Python
    # installation may itself live below /tmp or /home (e.g. a CI checkout in /tmp).
    argv += ["--perms", "0755", "--dir", "/home",
             "--bind", str(work / "home"), HOME, "--bind", str(work / "tmp"), "/tmp"]
    mounts = [(str(root), str(root)) for root in _python_roots()]
    mounts.append((str(helpers_dir), f"{HELPERS_PARENT}/helpers"))
    for source, target in mounts:
        for parent in _ancestors(Path(target)):
            argv += ["--perms", "0755", "--dir", parent]
        argv += ["--ro-bind", source, target]
    argv += ["--chdir", HOME, "--clearenv"]
    for name, value in sandbox_env().items():
        argv += ["--setenv", name, value]
    if uid is None:
        argv.insert(1, "--unshare-user")
    else:  # drop root: bwrap keeps only what setpriv needs to switch to the slot's user
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    argv.append("--")
    if uid is not None:
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    runner = f"{HELPERS_PARENT}/helpers/grading/runner.py"
    return argv + limits_argv + [python, "-s", "-B", runner, str(fds[0]), str(fds[1]),
                                 f"{limits.timeout:g}", "1", HELPERS_PARENT]


def sandbox_env(home: str = HOME) -> dict[str, str]:
    """Environment of the student code: nothing of the grader's, one thread, stand-in data."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "MPLBACKEND": "Agg", "JOBLIB_MULTIPROCESSING": "0",
            "MPLCONFIGDIR": f"{home}/.matplotlib",
            "TAI_DATA_DIR": f"{home}/data", "TAI_OUTPUT_DIR": f"{home}/outputs"}


@contextlib.contextmanager
def scratch(slot: int, limits: Limits, sandboxed: bool = True):
    """A fresh working area ``<tmp>/home`` + ``<tmp>/tmp`` for one submission; removed after.

    As root it is a tmpfs of ``limits.disk_mb`` owned by the slot's user, so a submission
    that fills its disk hits ENOSPC there and nowhere else.
    """
    work = Path(tempfile.mkdtemp(prefix=f"tai-grading-{slot}-"))
    uid = sandbox_uid(slot) if sandboxed else None
    mounted = False
    try:
        if uid is not None:
            mounted = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={limits.disk_mb}m,mode=0755,nosuid,nodev",
                 "tmpfs", str(work)], capture_output=True).returncode == 0
        for name in ("home", "tmp"):
            (work / name).mkdir()
            if uid is not None:
                os.chown(work / name, uid, uid)
        yield work
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(work)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
