"""The book builds without a warning, and its pages work in a real browser, offline.

The session's one book build (conftest.py: ``jupyter-book build --all -W -n
--keep-going``, every walkthrough executed in the ``tiny`` profile); the HTML is then
served from 127.0.0.1 and opened in Debian's headless Chromium through playwright.
Each page must render its title, load every image, typeset its math (MathJax is served
by the book itself), and make no request that fails or leaves 127.0.0.1.

Full-page screenshots and the build log are kept in ``_build/artifacts/`` (gitignored).
Chromium missing is a failure, not a skip: ``make browser`` installs it.
"""

from __future__ import annotations

import http.server
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOG_TAIL_LINES = 40

# (name, path under the HTML root, text the page's <h1> must contain, checks)
PAGES = [
    ("intro", "index.html", "Trustworthy AI", {"redirect": "book/intro.html"}),
    ("generalization-theory", "book/generalization/index.html",
     "Generalization under domain shift", {"math": True}),
    ("generalization-walkthrough", "book/generalization/generalization.html",
     "", {"figure": True, "colab": True}),
    ("robustness-theory", "book/robustness/index.html",
     "Robustness to adversarial examples", {"math": True}),
    ("robustness-walkthrough", "book/robustness/robustness.html",
     "", {"figure": True, "colab": True}),
    ("backdoor-theory", "book/backdoor/index.html", "Backdoor attacks", {"math": True}),
    ("backdoor-walkthrough", "book/backdoor/backdoor.html", "", {"figure": True, "colab": True}),
    ("ood-theory", "book/ood/index.html", "Out-of-distribution detection", {"math": True}),
    ("ood-walkthrough", "book/ood/ood.html", "", {"figure": True, "colab": True}),
    ("fairness-theory", "book/fairness/index.html",
     "Fairness: the p%-rule and adversarial debiasing", {"math": True}),
    ("fairness-walkthrough", "book/fairness/fairness.html",
     "", {"figure": True, "colab": True}),
    ("causal-theory", "book/causal/index.html", "Causal attribution", {"math": True}),
    ("causal-walkthrough", "book/causal/causal.html", "", {"figure": True, "colab": True}),
    ("sparsity-theory", "book/sparsity/index.html",
     "Sparsity, regularization and stable attributions", {"math": True}),
    ("sparsity-walkthrough", "book/sparsity/sparsity.html", "", {"figure": True, "colab": True}),
    ("setup", "book/setup.html", "Setup", {}),
    ("stealing-theory", "book/stealing/index.html",
     "Model stealing and query-based attacks", {"math": True}),
    ("stealing-walkthrough", "book/stealing/stealing.html", "", {"figure": True, "colab": True}),
    ("results", "book/summary/results.html", "Results", {}),
    ("instructor", "book/instructor.html", "Instructor guide", {}),
    ("bibliography", "book/bibliography.html", "Bibliography", {}),
]


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _problems(log: str) -> str:
    """The build log's warnings, errors and tracebacks (Sphinx marks warnings 'WARNING:')."""
    keep = [line for line in log.splitlines()
            if ("WARNING:" in line or "ERROR" in line or "Error" in line
                or "Traceback" in line) and "[IPKernelApp]" not in line]
    return "\n".join(keep[-40:]) or "(none found; see the tail)"


@pytest.fixture(scope="module")
def book(book_build):
    """The HTML folder of the session's book build; fails with the log's warnings and tail."""
    assert book_build.returncode == 0, (
        f"jupyter-book build failed (exit {book_build.returncode}, warnings are errors); "
        f"full log: {book_build.log_path}\n--- warnings and errors ---\n"
        f"{_problems(book_build.log)}\n--- log tail ---\n{_tail(book_build.log)}")
    assert (book_build.html / "book" / "intro.html").exists(), (
        f"no book/intro.html in {book_build.html}")
    yield book_build.html


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
    for page in ["book/intro.html"] + [path for _, path, _, _ in PAGES]:
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
def test_page_renders_offline(browser, server, book_build, name, path, heading, checks):
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
        shot = book_build.artifacts / f"{name}.png"
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
