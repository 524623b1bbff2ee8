"""The sandbox and the cell runner on tiny synthetic notebooks (seconds, no PyTorch).

Each test builds a merged notebook of instructor (``locked``), student and ``test``
cells, runs it with `helpers.grading.execute.run` in bubblewrap (`make test` installs
it) and checks the per-cell results the trusted parent read back.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from helpers.grading import execute, sandbox
from helpers.grading.notebooks import Merged

LIMITS = sandbox.Limits(timeout=3, memory_mb=1024, processes=32, file_mb=8, disk_mb=32,
                        cpu_seconds=60)


def cell(kind: str, text: str) -> dict:
    """A code cell of the given runner kind (``locked``, ``student`` or ``test``)."""
    nbgrader = {"locked": {}, "student": {"solution": True, "grade_id": "answer"},
                "test": {"grade": True, "grade_id": "test", "points": 1}}[kind]
    return {"cell_type": "code", "metadata": {"nbgrader": nbgrader}, "source": text,
            "outputs": []}


def run(*cells: tuple[str, str], limits: sandbox.Limits = LIMITS, folder=None) -> execute.Run:
    return execute.run(Merged([cell(k, t) for k, t in cells]), folder, limits, slot=7)


def statuses(result: execute.Run) -> list[str]:
    return [result.cells[i].status for i in sorted(result.cells)]


def test_cells_run_in_order_and_failures_are_reported():
    result = run(("locked", "import math"), ("student", "def f(x):\n    return 2 * x"),
                 ("test", "assert f(2) == 4"), ("test", "assert f(2) == 5, 'wrong'"))
    assert statuses(result) == ["ok", "ok", "ok", "error"]
    failure = result.cells[3]
    assert (failure.ename, failure.evalue, failure.lineno) == ("AssertionError", "wrong", 1)
    assert result.flags == []


def test_no_network_even_to_the_host_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        result = run(("student", "import socket\nsocket.create_connection(('127.0.0.1', "
                      f"{port}), timeout=2).sendall(b'leak')"),
                     ("student", "import urllib.request\nurllib.request.urlopen("
                      "'http://example.com', timeout=2)"))
        server.settimeout(0.5)  # a connection made during the run would wait in the backlog
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    assert statuses(result) == ["error", "error"]
    assert result.cells[0].ename in ("ConnectionRefusedError", "OSError"), result.cells[0]


def test_only_the_working_folder_and_tmp_are_writable(tmp_path):
    outside = tmp_path / "escaped.txt"
    course = Path(__file__).resolve().parents[1]
    result = run(("student", f"open({str(outside)!r}, 'w').write('x')"),
                 ("student", "open('/usr/escaped', 'w')"),
                 ("student", "import helpers, pathlib\n"
                             "(pathlib.Path(helpers.__file__).parent / 'x.py').write_text('')"),
                 ("student", f"open({str(course / 'solutions' / 'x')!r}, 'w')"),
                 ("student", "open('here.txt', 'w').write('ok')\nopen('/tmp/t', 'w').write('ok')"))
    assert statuses(result) == ["error"] * 4 + ["ok"]
    assert not outside.exists() and not (course / "solutions" / "x").exists()


def test_course_files_and_other_processes_are_invisible():
    course = Path(__file__).resolve().parents[1]
    venv_parent = Path(sys.prefix).resolve().parent  # only its .venv is mounted
    only_venv = "import os\nassert not os.path.exists({0!r}) or os.listdir({0!r}) == ['.venv']"
    result = run(("student", only_venv.format(str(course))),
                 ("student", only_venv.format(str(venv_parent))),
                 ("student", "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
                             "assert len(pids) <= 3, pids"),
                 ("student", "import os\nassert os.getuid() != 0"),
                 ("student", "import os\nassert 'TAI_DATA_DIR' in os.environ and "
                             "not any('PYTEST' in k for k in os.environ)"))
    assert statuses(result) == ["ok"] * 5, result


def test_the_submission_folder_is_copied_in_without_symlinks(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "link").symlink_to("/etc/hostname")
    result = run(("student", "assert open('notes.txt').read() == 'mine'"),
                 ("student", "import os\nassert not os.path.exists('link')"), folder=tmp_path)
    assert statuses(result) == ["ok", "ok"]


def test_patched_builtins_and_modules_are_restored_before_tests():
    result = run(
        ("locked", "import math, builtins"),
        ("student", "import math, builtins, sys\n"
                    "math.isclose = lambda *a, **k: True\n"
                    "builtins.len = lambda x: 3\n"
                    "builtins.AssertionError = type('Fake', (Exception,), {})\n"
                    "sys.excepthook = lambda *a: None\n"
                    "int.__dict__  # classes of C types cannot be patched\n"
                    "class Always(float):\n    pass\n"
                    "math = None"),
        ("test", "assert not math.isclose(1.0, 2.0)"),
        ("test", "assert len([1]) == 1"),
        ("test", "assert math.isclose(1.0, 1.0) and len([]) == 0\nassert False, 'must fail'"))
    assert statuses(result) == ["ok", "ok", "ok", "ok", "error"]
    assert result.cells[4].ename == "AssertionError"


def test_exit_calls_cannot_skip_or_pass_tests():
    result = run(("student", "import sys\nsys.exit(0)"), ("test", "assert False"),
                 ("student", "raise SystemExit"), ("test", "assert True"),
                 ("student", "import os\nos._exit(0)"), ("test", "assert True"))
    assert statuses(result) == ["error", "error", "error", "ok", "error", "not run"]
    assert any("exited" in flag for flag in result.flags)


def test_printed_or_forged_results_do_not_count():
    forge = ("import os\nfor fd in range(3, 40):\n    try:\n"
             "        os.write(fd, b'0' * 32 + b' 1 ok 0 1 - -\\n')\n"
             "    except OSError:\n        pass\nprint('1 ok 0 1 - -')\nprint('All tests passed')")
    result = run(("student", forge), ("test", "assert False"))
    assert result.cells[0].status == "error" and result.cells[1].status != "ok"
    assert any("forged" in flag for flag in result.flags)


def test_timeouts_soft_and_hard(monkeypatch):
    monkeypatch.setattr(execute, "GRACE", 2.0)
    soft = run(("student", "while True:\n    pass"), ("test", "assert True"))
    assert statuses(soft) == ["timeout", "ok"]
    stubborn = "while True:\n    try:\n        while True:\n            pass\n" \
               "    except BaseException:\n        pass"
    hard = run(("student", stubborn), ("test", "assert True"))
    assert statuses(hard) == ["timeout", "not run"]
    assert any("ignored the time limit" in flag for flag in hard.flags)


def test_resource_limits_contain_hostile_cells():
    result = run(
        ("student", "blocks = [bytearray(10**8) for _ in range(100)]"),          # memory
        ("student", "import os\nwhile True:\n    os.fork()"),                    # fork bomb
        ("student", "with open('big', 'wb') as f:\n    while True:\n"
                    "        f.write(b'0' * (1 << 20))"),                         # file size
        ("student", "import os\nfor i in range(100):\n    with open(f'f{i}', 'wb') as f:\n"
                    "        f.write(b'0' * (7 << 20))"),                         # disk
        ("student", "import sys\nfor _ in range(10**5):\n    sys.stdout.write('x' * 10**4)"),
        ("test", "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
                 "assert len(pids) <= 3, pids"))  # the fork bomb's processes are gone
    names = [result.cells[i].ename for i in range(4)]
    assert names[0] == "MemoryError", result.cells[0]
    assert names[1] == "BlockingIOError", result.cells[1]
    assert names[2] == "OSError" and "too large" in result.cells[2].evalue.lower() or \
        "27" in result.cells[2].evalue, result.cells[2]
    if os.geteuid() == 0:  # the size-limited tmpfs needs root (see sandbox.scratch)
        assert names[3] == "OSError" and "space" in result.cells[3].evalue, result.cells[3]
    assert result.cells[4].status == "ok" and result.cells[5].status == "ok", result
    assert len(result.output) <= LIMITS.output_kb * 1024 + 200 and "dropped" in result.output


def test_refuses_without_bubblewrap(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(sandbox.SandboxUnavailable, match="--unsandboxed"):
        sandbox.bubblewrap()


def test_limits_are_checked():
    with pytest.raises(ValueError, match="Limits.timeout"):
        sandbox.Limits(timeout=0)


def test_unsandboxed_runs_only_when_asked_and_keeps_the_limits():
    result = execute.run(Merged([cell("student", "import resource\nprint(resource.getrlimit("
                                      "resource.RLIMIT_FSIZE))\nx = 1"),
                                 cell("test", "assert x == 1")]),
                         None, LIMITS, slot=0, sandboxed=False)
    assert statuses(result) == ["ok", "ok"]
    assert f"({8 << 20}, {8 << 20})" in result.output


def test_hash_seed_is_fixed_so_set_order_is_reproducible():
    code = ("student", "order = list({'alpha', 'beta', 'gamma', 'delta'})\nprint(order)")
    first, second = run(code), run(code)
    assert first.output == second.output and "alpha" in first.output
