"""A course on the repository's JupyterHub, end to end, on 127.0.0.1.

The hub (hub/jupyterhub_config.py, its proxy from npm) runs as root with four local
system users made for the test: an instructor and three students. Each student's server
is started through the hub's REST API; through that server's nbgrader extension each
student fetches the lab from the exchange, puts in a prepared answer (full marks, one
task, hostile) and submits -- the "full" student twice, so the later one must count.
The instructor releases, collects, grades with the kit's sandboxed grader, and returns
feedback through the exchange; each student fetches it, and the page must show the
right score and no hidden test. The lab's deadline lies 30 hours in the past, so every
submission is 2 started days late (the late policy). A Playwright check logs a student
in and opens the assignment list. At the end the hub, its proxy and the servers stop
(by their process ids), and the users, their homes and the exchange are removed.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from helpers.grading import notebooks

REPO = Path(__file__).resolve().parents[1]
LAB = "ood"
COURSE_ID = "tai-e2e"
INSTRUCTOR = "tai-e2e-teacher"
STUDENTS = ("tai-e2e-full", "tai-e2e-partial", "tai-e2e-hostile")
PASSWORD = "e2e-password"
TOKEN = "tai-e2e-" + os.urandom(16).hex()
PROXY = REPO / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
HOSTILE = ("import glob, os\nleaked = glob.glob('/srv/**/*.ipynb', recursive=True)\n"
           "os._exit(0)\n")

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, method: str = "GET", data: dict | None = None, body: bytes | None = None,
         timeout: float = 120) -> dict:
    """A hub or single-user API call with the test's service token; the JSON reply."""
    if data is not None:
        body = urllib.parse.urlencode(data).encode()
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Authorization": f"token {TOKEN}"})
    if body is not None and data is None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        text = reply.read().decode()
    return json.loads(text) if text else {}


def as_user(user: str, *args: str, env: dict, cwd: Path, timeout: float = 600,
            check: bool = True) -> subprocess.CompletedProcess:
    """Run a command as ``user`` (runuser); with ``check``, fail with its output if it fails."""
    done = subprocess.run(["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()),
                           *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert not check or done.returncode == 0, \
        f"{' '.join(args)} as {user} failed:\n{done.stdout}\n{done.stderr}"
    return done


def traversable(paths) -> list[tuple[Path, int]]:
    """Give "others" the x bit on every folder above ``paths`` that lacks it (the users'
    servers run the kit's interpreter, which may live below /root); returns what to undo."""
    changed = []
    for path in paths:
        for folder in [*reversed(Path(path).resolve().parents)]:
            mode = stat.S_IMODE(folder.stat().st_mode)
            if not mode & stat.S_IXOTH:
                folder.chmod(mode | stat.S_IXOTH)
                changed.append((folder, mode))
    return changed


def answers(source: dict, tasks: int | None = None) -> dict:
    """``source``'s answer cells by grade_id (the first ``tasks`` only, if given)."""
    found = [(notebooks.meta(c)["grade_id"], notebooks.source(c)) for c in source["cells"]
             if notebooks.role(c) == "answer"]
    return dict(found[:tasks] if tasks else found)


def filled(notebook: dict, replacement: dict) -> dict:
    cells = [dict(c, source=replacement.get(notebooks.meta(c).get("grade_id"), c["source"]))
             for c in notebook["cells"]]
    return dict(notebook, cells=cells)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the hub runs each user's server as a local system user: creating them "
                    "and starting the hub need root (CI runs as root)")
    assert PROXY.is_file(), f"{PROXY} is missing: run `make hub-env` (make test does)"
    state = tmp_path_factory.mktemp("hub")
    state.chmod(0o755)
    exchange = state / "exchange"
    users = [INSTRUCTOR, *STUDENTS]
    subprocess.run([REPO / "hub" / "users.sh", "remove", *users], check=True)  # a crashed run
    subprocess.run([REPO / "hub" / "users.sh", "add", *users], check=True)
    undo = traversable([sys.prefix, sys.base_prefix, Path(sys.executable).resolve(), REPO, state])
    port = free_port()
    env = {**os.environ, "TAI_HUB_STATE": str(state / "state"), "TAI_HUB_PORT": str(port),
           "TAI_HUB_INTERNAL_PORT": str(free_port()), "TAI_HUB_PROXY_API_PORT": str(free_port()),
           "TAI_HUB_INSTRUCTOR": INSTRUCTOR, "TAI_HUB_STUDENTS": ",".join(STUDENTS),
           "TAI_HUB_PASSWORD": PASSWORD, "TAI_HUB_API_TOKEN": TOKEN,
           "TAI_EXCHANGE": str(exchange), "TAI_COURSE_ID": COURSE_ID}
    log = open(state / "hub.log", "w")
    process = subprocess.Popen([Path(sys.executable).parent / "jupyterhub", "-f",
                                REPO / "hub" / "jupyterhub_config.py"], env=env, cwd=state,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                call(f"{base}/hub/api/users", timeout=5)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, \
                    (state / "hub.log").read_text()[-3000:]
                time.sleep(0.5)
        yield {"base": base, "state": state, "exchange": exchange, "env": env}
    finally:
        for user in STUDENTS:
            try:
                call(f"{base}/hub/api/users/{user}/server", "DELETE", timeout=30)
            except OSError:
                pass
        process.send_signal(signal.SIGTERM)  # the hub stops its proxy and the servers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        for user in users:  # anything still running as a test user
            subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        subprocess.run([REPO / "hub" / "users.sh", "remove", *users], check=True)
        shutil.rmtree(exchange, ignore_errors=True)
        for folder, mode in reversed(undo):
            folder.chmod(mode)


def test_a_lab_goes_round_the_hub(hub):
    base, env = hub["base"], hub["env"]
    course = Path(f"/home/{INSTRUCTOR}/course")
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    due = datetime.now(timezone.utc) - timedelta(hours=30)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(f"\nc.Course.deadlines = {{{LAB!r}: '{due:%Y-%m-%d %H:%M:%S} UTC'}}\n")
    for folder in ("solutions", "labs"):
        shutil.copytree(REPO / folder / LAB, course / folder / LAB)
    subprocess.run(["chown", "-R", f"{INSTRUCTOR}:", course], check=True)
    teacher = {"HOME": f"/home/{INSTRUCTOR}", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
               "JUPYTER_CONFIG_PATH": str(REPO / "hub" / "config" / "common"),
               "TAI_EXCHANGE": env["TAI_EXCHANGE"], "TAI_COURSE_ID": COURSE_ID,
               "OMP_NUM_THREADS": "1"}
    grading = [sys.executable, "-m", "helpers.grading", "--course-dir", str(course)]

    # A missing exchange folder is named, with the fix; `exchange setup` creates it.
    missing = as_user(INSTRUCTOR, *grading, "exchange", "release", LAB, env=teacher, cwd=course,
                      check=False)
    assert missing.returncode == 2 and env["TAI_EXCHANGE"] in missing.stderr \
        and "exchange setup" in missing.stderr, missing.stderr
    subprocess.run([sys.executable, "-m", "helpers.grading", "--course-dir", str(course),
                    "exchange", "setup"], env={**os.environ, **teacher}, check=True,
                   capture_output=True)
    as_user(INSTRUCTOR, *grading, "exchange", "release", LAB, env=teacher, cwd=course)

    solution = json.loads((REPO / "solutions" / LAB / f"{LAB}_lab.ipynb").read_text())
    first_task = answers(solution, 1)
    for student in STUDENTS:
        call(f"{base}/hub/api/users/{student}/server", "POST")
    user_api = {s: f"{base}/user/{s}" for s in STUDENTS}
    for student in STUDENTS:
        deadline = time.monotonic() + 120
        while call(f"{base}/hub/api/users/{student}")["pending"] or \
                not call(f"{base}/hub/api/users/{student}")["server"]:
            assert time.monotonic() < deadline, f"{student}'s server did not start"
            time.sleep(0.5)
    versions = {"tai-e2e-full": [{}, answers(solution)],  # submits twice; the later counts
                "tai-e2e-partial": [first_task],
                "tai-e2e-hostile": [{k: HOSTILE for k in first_task}]}
    form = {"course_id": COURSE_ID, "assignment_id": LAB}
    for student, attempts in versions.items():
        fetched = call(f"{user_api[student]}/assignments/fetch", "POST", form)
        assert fetched["success"], fetched
        path = f"{user_api[student]}/api/contents/{LAB}/{LAB}_lab.ipynb"
        released = call(f"{path}?content=1")["content"]
        for attempt in attempts:
            notebook = filled(released, attempt)
            call(path, "PUT", body=json.dumps({"type": "notebook", "format": "json",
                                               "content": notebook}).encode())
            submitted = call(f"{user_api[student]}/assignments/submit", "POST", form)
            assert submitted["success"], submitted
            time.sleep(1.1)  # nbgrader orders submissions by their timestamp

    as_user(INSTRUCTOR, *grading, "exchange", "collect", LAB, env=teacher, cwd=course)
    graded = as_user(INSTRUCTOR, *grading, "grade", "submitted", "--lab", LAB, "--jobs", "2",
                     "--no-progress", "--timeout", "60", env=teacher, cwd=course)
    as_user(INSTRUCTOR, *grading, "exchange", "feedback", LAB, env=teacher, cwd=course)

    lab = notebooks.Lab.load(course, LAB)
    tests = {notebooks.meta(c)["grade_id"]: float(notebooks.meta(c)["points"]) for c in lab.tests()}
    total = sum(tests.values())
    first = sum(p for t, p in tests.items() if t.startswith(f"test_{next(iter(first_task))}"))
    expected = {"tai-e2e-full": total, "tai-e2e-partial": first, "tai-e2e-hostile": 0.0}
    assert 0 < first < total, f"the first task's parts ({first}) of {total} points"
    hidden = [line.strip() for cell in lab.solution["cells"]
              for number, line in enumerate(notebooks.source(cell).splitlines(), 1)
              if number in notebooks.hidden_lines(notebooks.source(cell)) and len(line.strip()) > 12
              and line.strip() not in json.dumps(lab.released)]
    assert hidden, "the lab has no hidden test lines to look for"
    for student, score in expected.items():
        got = call(f"{user_api[student]}/assignments/fetch_feedback", "POST", form)
        assert got["success"], got
        folder = call(f"{user_api[student]}/api/contents/{LAB}/feedback")["content"]
        assert len(folder) == 1, f"{student}: one feedback (latest submission), got {folder}"
        where = urllib.parse.quote(f"{folder[0]['path']}/{LAB}_lab.html")
        page = call(f"{user_api[student]}/api/contents/{where}?content=1&format=text&type=file"
                    )["content"]
        plain = html.unescape(page)
        assert f"<b>{score:g} / {total:g}</b>" in page, f"{student}: expected {score:g} / {total:g}"
        leaked = [line for line in hidden if line in plain]
        assert not leaked, f"{student}'s feedback shows hidden test lines: {leaked[:2]}"
    assert "flagged" in next(l for l in graded.stdout.splitlines() if "tai-e2e-hostile" in l)
    rows = (course / "grades.csv").read_text().splitlines()
    full = next(r for r in rows if ",tai-e2e-full," in r).split(",")
    header = rows[0].split(",")
    penalty = float(full[header.index("late_submission_penalty")])
    maximum = float(full[header.index("max_score")])
    assert penalty == pytest.approx(0.2 * maximum), f"2 days late: 20 % of {maximum}, got {penalty}"

    from playwright.sync_api import sync_playwright
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.goto(f"{base}/hub/login")
            page.fill("input[name=username]", "tai-e2e-partial")
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit], button[type=submit]")
            page.goto(f"{base}/user/tai-e2e-partial/lab", timeout=60_000)
            page.get_by_text("Nbgrader", exact=True).click(timeout=60_000)
            menu = page.locator(".lm-Menu-content").inner_text()
            assert "Assignment List" in menu and "Formgrader" not in menu, \
                f"students' Nbgrader menu: {menu!r}"
            page.get_by_text("Assignment List", exact=True).click()
            panel = page.locator("#nbgrader-assignment-list, .nbgrader-assignment-list, "
                                 "[id*=assignment]").first
            panel.get_by_text(LAB, exact=True).first.wait_for(timeout=30_000)
        finally:
            browser.close()


def test_exchange_errors_name_the_folder_and_the_fix(tmp_path):
    from helpers.grading import GradingError
    from helpers.grading.exchange import check_exchange
    with pytest.raises(GradingError, match=f"{tmp_path / 'none'} does not exist.*exchange setup"):
        check_exchange(tmp_path / "none")
    (tmp_path / "closed").mkdir(mode=0o755)
    (tmp_path / "closed").chmod(0o755)
    with pytest.raises(GradingError, match=f"{tmp_path / 'closed'} has mode 755.*chmod ugo"):
        check_exchange(tmp_path / "closed")
