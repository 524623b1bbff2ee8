"""Shared fixtures: isolated data/output folders for every test, and the session's one
book build, whose executed walkthroughs also feed the chapters' result checks
(``tests/test_results_<chapter>.py``).

To check one chapter's results without the book build, run its walkthrough yourself and
point ``$TAI_RESULTS_DIR`` at the outputs folder::

    TAI_OUTPUT_DIR=/tmp/out papermill book/ood/ood.ipynb /tmp/ood.ipynb
    TAI_RESULTS_DIR=/tmp/out pytest tests/test_results_ood.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "_build" / "artifacts"      # build log and screenshots (gitignored)
BUILD_TIMEOUT = 2400  # seconds; the tiny book builds in a few minutes on 2 cores
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RESULTS_ENV_VAR = "TAI_RESULTS_DIR"
EXECUTED = re.compile(r"(\S+\.ipynb): Executed notebook in ([0-9.]+) seconds")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Point $TAI_DATA_DIR/$TAI_OUTPUT_DIR at fresh folders; ignore a caller's $TAI_PROFILE."""
    monkeypatch.setenv("TAI_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.setenv("TAI_OUTPUT_DIR", str(tmp_path_factory.mktemp("outputs")))
    monkeypatch.delenv("TAI_PROFILE", raising=False)
    from helpers import data

    data._cached.cache_clear()
    yield
    data._cached.cache_clear()


@pytest.fixture
def repo() -> Path:
    return REPO


def _tool(name: str) -> str:
    """A console script of the running interpreter's environment (the project's .venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found next to {sys.executable} nor on PATH: run `make env`.")
    return found


@pytest.fixture(scope="session")
def book_build(tmp_path_factory):
    """Build the whole book once per session, executing every walkthrough (tiny profile).

    Returns a namespace: ``returncode``, ``log`` (text), ``log_path``, ``html`` (folder),
    ``outputs`` (the walkthroughs' results, ``<chapter>/results-tiny.json``), ``seconds``,
    ``executed`` ({notebook path: seconds}) and ``artifacts``. It does not assert: test_book checks the build, test_notebooks the
    results each walkthrough wrote, so a failing page does not hide the other checks.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    vendor = subprocess.run(["bash", str(REPO / "book" / "_scripts" / "vendor_mathjax.sh")],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert vendor.returncode == 0, f"vendoring MathJax failed:\n{vendor.stdout}\n{vendor.stderr}"

    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, TAI_PROFILE="tiny", TAI_OUTPUT_DIR=str(out / "outputs"),
               TAI_DATA_DIR=str(out / "data"), PYTHONUNBUFFERED="1")
    # Kernels inherit the environment: a non-interactive backend set for the test
    # session would make every notebook figure disappear from the book.
    env.pop("MPLBACKEND", None)
    cmd = [_tool("jupyter-book"), "build", "--all", "-W", "-n", "--keep-going",
           str(REPO), "--path-output", str(out)]
    start = time.monotonic()
    try:
        result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=BUILD_TIMEOUT)
        returncode, stdout, stderr = result.returncode, result.stdout, result.stderr
    except subprocess.TimeoutExpired as error:
        returncode, stderr = None, f"timed out after {BUILD_TIMEOUT} s"
        stdout = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
    seconds = time.monotonic() - start
    log = ANSI.sub("", f"$ {' '.join(cmd)}\n{stdout}\n--- stderr ---\n{stderr}")
    log_path = ARTIFACTS / "book-build.log"
    log_path.write_text(log)
    executed = {Path(path).relative_to(REPO).as_posix(): float(secs)
                for path, secs in EXECUTED.findall(log)}
    print(f"\nbook build: {seconds:.1f} s, exit {returncode}, log: {log_path}")
    for notebook, secs in executed.items():
        print(f"  {notebook}: executed in {secs:.1f} s")
    return SimpleNamespace(returncode=returncode, log=log, log_path=log_path,
                           html=out / "_build" / "html", outputs=out / "outputs",
                           seconds=seconds, executed=executed, artifacts=ARTIFACTS)


@pytest.fixture(scope="session")
def walkthrough_outputs(request) -> Path:
    """The folder holding ``<chapter>/results-tiny.json``: ``$TAI_RESULTS_DIR`` when set,
    else the outputs of the session's book build."""
    if os.environ.get(RESULTS_ENV_VAR):
        return Path(os.environ[RESULTS_ENV_VAR])
    return request.getfixturevalue("book_build").outputs


@pytest.fixture(scope="module")
def results(request, walkthrough_outputs) -> dict:
    """The results of the chapter that the module ``test_results_<chapter>.py`` checks."""
    chapter = request.module.__name__.rpartition(".")[2].removeprefix("test_results_")
    return read_results(walkthrough_outputs, chapter)


def read_results(outputs: Path, chapter: str) -> dict:
    """The results the chapter's walkthrough wrote (tiny profile), or a clear failure."""
    path = outputs / chapter / "results-tiny.json"
    if not path.exists():
        pytest.fail(f"book/{chapter}/{chapter}.ipynb wrote no results at {path}; see the "
                    f"book build log in {ARTIFACTS} (or run the notebook and set "
                    f"${RESULTS_ENV_VAR}).")
    return json.loads(path.read_text())


# --- running in parallel (pytest-xdist) and the suite's own timing summary ----------------

# Tests that share one expensive session/module fixture run in one xdist worker, so the
# fixture is built once: the book build (and the results read from it) in one, each
# grading module's course in another. `make test` runs `pytest -n 2 --dist loadgroup`.
SHARED_FIXTURE_GROUPS = {"book_build": "book", "walkthrough_outputs": "book",
                         "released": "grading", "batch": "grading"}


def pytest_itemcollected(item):
    # Marked as each item is collected: xdist turns the marks into group names in its own
    # pytest_collection_modifyitems, which runs before a conftest's.
    for fixture, group in SHARED_FIXTURE_GROUPS.items():
        if fixture in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(group))
            break


_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    """Seconds per test file (setup + call + teardown, summed over its tests; with
    workers, the files' times add up to more than the wall time)."""
    if not _FILE_SECONDS:
        return
    terminalreporter.section("seconds per test file")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
    terminalreporter.write_line(f"{sum(_FILE_SECONDS.values()):8.1f}  in all (summed)")
