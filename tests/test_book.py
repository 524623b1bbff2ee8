"""The book builds without a warning, and its pages work in a real browser, offline.

One module-scoped build (``jupyter-book build --all -W -n --keep-going``, every
walkthrough executed in the ``tiny`` profile) into a temporary folder; the HTML is then
served from 127.0.0.1 and opened in Debian's headless Chromium through playwright.
Each page must render its title, load every image, typeset its math (MathJax is served
by the book itself), and make no request that fails or leaves 127.0.0.1.

Full-page screenshots and the build log are kept in ``_build/artifacts/`` (gitignored).
Chromium missing is a failure, not a skip: ``make browser`` installs it.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "_build" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BUILD_TIMEOUT = 1500  # seconds; the tiny book builds in a few minutes on 2 cores
LOG_TAIL_LINES = 40
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# (name, path under the HTML root, text the page's <h1> must contain, checks)
PAGES = [
    ("intro", "index.html", "Trustworthy AI", {"redirect": "book/intro.html"}),
    ("generalization-theory", "book/generalization/index.html",
     "Generalization under domain shift", {"math": True}),
    ("generalization-walkthrough", "book/generalization/generalization.html",
     "", {"figure": True, "colab": True}),
    ("fairness-theory", "book/fairness/index.html",
     "Fairness: the p%-rule and adversarial debiasing", {"math": True}),
    ("fairness-walkthrough", "book/fairness/fairness.html",
     "", {"figure": True, "colab": True}),
    ("setup", "book/setup.html", "Setup", {}),
    ("instructor", "book/instructor.html", "Instructor guide", {}),
    ("bibliography", "book/bibliography.html", "Bibliography", {}),
]


def _tool(name: str) -> str:
    """A console script of the running interpreter's environment (the project's .venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found next to {sys.executable} nor on PATH: run `make env`.")
    return found


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _problems(log: str) -> str:
    """The build log's warnings, errors and tracebacks (Sphinx marks warnings 'WARNING:')."""
    keep = [line for line in log.splitlines()
            if ("WARNING:" in line or "ERROR" in line or "Error" in line
                or "Traceback" in line) and "[IPKernelApp]" not in line]
    return "\n".join(keep[-40:]) or "(none found; see the tail)"


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """Build the whole book once; yields the HTML folder. Fails with the log's tail."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    vendor = subprocess.run(["bash", str(REPO / "book" / "_scripts" / "vendor_mathjax.sh")],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert vendor.returncode == 0, (
        f"vendoring MathJax failed:\n{vendor.stdout}\n{vendor.stderr}")

    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, TAI_PROFILE="tiny", TAI_OUTPUT_DIR=str(out / "outputs"),
               PYTHONUNBUFFERED="1")
    # Kernels inherit the environment: a non-interactive backend set for the test
    # session (conftest.py) would make every notebook figure disappear from the book.
    env.pop("MPLBACKEND", None)
    cmd = [_tool("jupyter-book"), "build", "--all", "-W", "-n", "--keep-going",
           str(REPO), "--path-output", str(out)]
    start = time.monotonic()
    try:
        result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        log = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
        pytest.fail(f"the book build did not finish in {BUILD_TIMEOUT} s; log tail:\n{_tail(log)}")
    seconds = time.monotonic() - start
    log = ANSI.sub("", f"$ {' '.join(cmd)}\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    log_path = ARTIFACTS / "book-build.log"
    log_path.write_text(log)
    print(f"\nbook build: {seconds:.1f} s, exit {result.returncode}, log: {log_path}")

    html = out / "_build" / "html"
    assert result.returncode == 0, (
        f"jupyter-book build failed (exit {result.returncode}, warnings are errors); "
        f"full log: {log_path}\n--- warnings and errors ---\n{_problems(log)}"
        f"\n--- log tail ---\n{_tail(log)}")
    assert (html / "book" / "intro.html").exists(), f"no book/intro.html in {html}"
    yield html


class _Server(http.server.ThreadingHTTPServer):
    """Serves one folder on 127.0.0.1 and records (path, status) of every response.

    The server's log also sees what the browser fetches on its own (e.g. a favicon),
    which playwright's request events do not report.
    """

    daemon_threads = True

    def __init__(self, folder: Path):
        self.responses: list[tuple[str, int]] = []
        responses = self.responses

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_request(self, code="-", size="-"):
                responses.append((self.path, int(code)))

            def log_message(self, *args):  # keep the test output readable
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def handle_error(self, request, client_address):
        # The browser may close a connection early (page closed); that is not a failure.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server(book):
    """Serve the built HTML on a free port of 127.0.0.1; yields the server."""
    httpd = _Server(book)
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, or None when it is not installed (each page test then fails)."""
    if not CHROMIUM.exists():
        yield None
        return

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_book_builds_without_warnings(book):
    for page in ("book/intro.html", "book/setup.html", "book/instructor.html",
                 "book/bibliography.html", "book/generalization/index.html",
                 "book/generalization/generalization.html", "book/fairness/index.html",
                 "book/fairness/fairness.html"):
        assert (book / page).exists(), f"{page} missing from the build"
    assert (book / "mathjax" / "tex-chtml.js").exists(), "MathJax was not copied to the build"


_WAIT_FOR_IMAGES = """
async () => {
  const images = Array.from(document.images);
  for (const img of images) { img.loading = "eager"; }
  await Promise.all(images.map(img => img.complete ? null :
      new Promise(done => { img.addEventListener("load", done);
                            img.addEventListener("error", done); })));
  return images.map(img => ({src: img.currentSrc || img.src,
                             ok: img.complete && img.naturalWidth > 0,
                             output: !!img.closest(".cell_output")}));
}
"""


@pytest.mark.parametrize("name, path, heading, checks", PAGES, ids=[p[0] for p in PAGES])
def test_page_renders_offline(browser, server, name, path, heading, checks):
    if browser is None:
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium), "
                    "then run the tests again.")
    requests, failures, page_errors = [], [], []
    server.responses.clear()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("request", lambda request: requests.append(request.url))
    arrived = {"yes": "redirect" not in checks}

    def on_failed(request):
        # Leaving the redirect page aborts what it was still fetching (its favicon).
        if arrived["yes"] or "ERR_ABORTED" not in (request.failure or ""):
            failures.append(f"{request.url}: {request.failure}")

    page.on("requestfailed", on_failed)
    page.on("response", lambda response: failures.append(
        f"{response.url}: HTTP {response.status}") if response.status >= 400 else None)
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        page.goto(server.url + path, wait_until="load")
        if "redirect" in checks:
            page.wait_for_url("**/" + checks["redirect"])
            page.wait_for_load_state("load")
            arrived["yes"] = True
        page.wait_for_load_state("networkidle")

        # The page rendered: a title and the expected heading.
        assert page.title().strip(), f"{name}: empty <title>"
        h1 = page.locator("article h1, main h1").first.inner_text()
        assert h1.strip() and heading in h1, (
            f"{name}: heading {h1!r} does not contain {heading!r}")

        # Every image loaded; a walkthrough shows at least one figure from its run.
        images = page.evaluate(_WAIT_FOR_IMAGES)
        broken = [img["src"] for img in images if not img["ok"]]
        assert not broken, f"{name}: images that did not load: {broken}"
        if checks.get("figure"):
            assert any(img["output"] for img in images), (
                f"{name}: no figure in the notebook's outputs")

        # Math is typeset by the vendored MathJax, without TeX errors.
        if checks.get("math"):
            try:
                page.wait_for_selector("mjx-container", state="attached", timeout=20_000)
            except PlaywrightTimeout:
                pytest.fail(f"{name}: MathJax typeset nothing in 20 s; failed requests: "
                            f"{failures or 'none'}; MathJax requests: "
                            f"{[url for url in requests if 'mathjax' in url.lower()]}")
            assert page.locator("mjx-container").count() >= 10, f"{name}: little math typeset"
            assert page.locator("mjx-merror").count() == 0, f"{name}: MathJax TeX errors"

        # The launch button for Colab is a plain link: present, never requested.
        if checks.get("colab"):
            assert page.locator("a[href*='colab.research.google.com']").count() >= 1, (
                f"{name}: no Colab launch link")

        page.wait_for_load_state("networkidle")
        shot = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
    finally:
        context.close()

    failures += [f"{path} (served): HTTP {code}" for path, code in server.responses
                 if code >= 400]
    assert not failures, f"{name}: failed requests:\n" + "\n".join(failures)
    assert not page_errors, f"{name}: JavaScript errors:\n" + "\n".join(page_errors)
    outside = [url for url in requests
               if urlparse(url).scheme not in ("data", "blob", "about")
               and urlparse(url).hostname != "127.0.0.1"]
    assert not outside, f"{name}: requests left 127.0.0.1:\n" + "\n".join(outside)
    assert any("/mathjax/" in url for url in requests) or not checks.get("math"), (
        f"{name}: MathJax was not loaded from the book")
