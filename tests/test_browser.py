"""The book read as a reader would: every page in a real browser, offline.

The session's one book build (conftest.py) is served from 127.0.0.1 and opened in
Debian's headless Chromium through playwright. At 1280 px each page must render its
title, load every image, typeset its math with the book's own MathJax, make no request
that fails or leaves 127.0.0.1, show no raw TeX, fit every display equation in the
column, give every output figure a meaningful alt text and a caption, and pass axe-core
without a critical or serious violation (bar the allow-list below, each with its
reason). At 390 px (a phone) no page scrolls sideways.

``TAI_BOOK_HTML=<folder>`` checks an HTML build you already have instead of building.
A page with a problem leaves a full-page screenshot in ``_build/artifacts/``
(gitignored). Chromium or axe-core missing is a failure, not a skip: ``make browser``
installs both.
"""

from __future__ import annotations

import http.server
import os
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

# The "book" xdist group: the worker that builds the book checks it (the build fixture is
# only requested at run time, so conftest's grouping by fixture name does not see it).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "_build" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
NPM_CACHE = Path(os.environ.get("TAI_NPM_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "trustworthy-ai" / "npm")
AXE = NPM_CACHE / "axe" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# (name, path under the HTML root, text the page's <h1> must contain, checks)
PAGES = [
    ("intro", "index.html", "Trustworthy AI", {"redirect": "book/intro.html"}),
    ("setup", "book/setup.html", "Setup", {}),
    ("labs", "book/labs.html", "Labs", {"colab": True}),
    ("generalization-theory", "book/generalization/index.html",
     "Generalization under domain shift", {"math": True}),
    ("generalization-walkthrough", "book/generalization/generalization.html",
     "", {"figure": True, "colab": True}),
    ("robustness-theory", "book/robustness/index.html",
     "Robustness to adversarial examples", {"math": True}),
    ("robustness-walkthrough", "book/robustness/robustness.html",
     "", {"figure": True, "colab": True}),
    ("fairness-theory", "book/fairness/index.html",
     "Fairness: the p%-rule and adversarial debiasing", {"math": True}),
    ("fairness-walkthrough", "book/fairness/fairness.html",
     "", {"figure": True, "colab": True}),
    ("backdoor-theory", "book/backdoor/index.html", "Backdoor attacks", {"math": True}),
    ("backdoor-walkthrough", "book/backdoor/backdoor.html", "", {"figure": True, "colab": True}),
    ("ood-theory", "book/ood/index.html", "Out-of-distribution detection", {"math": True}),
    ("ood-walkthrough", "book/ood/ood.html", "", {"figure": True, "colab": True}),
    ("sparsity-theory", "book/sparsity/index.html",
     "Sparsity, regularization and stable attributions", {"math": True}),
    ("sparsity-walkthrough", "book/sparsity/sparsity.html", "", {"figure": True, "colab": True}),
    ("causal-theory", "book/causal/index.html", "Causal attribution", {"math": True}),
    ("causal-walkthrough", "book/causal/causal.html", "", {"figure": True, "colab": True}),
    ("stealing-theory", "book/stealing/index.html",
     "Model stealing and query-based attacks", {"math": True}),
    ("stealing-walkthrough", "book/stealing/stealing.html", "", {"figure": True, "colab": True}),
    ("results", "book/summary/results.html", "Results", {}),
    ("instructor", "book/instructor.html", "Instructor guide", {}),
    ("bibliography", "book/bibliography.html", "Bibliography", {}),
    ("search", "search.html?q=perturbation", "Search", {"search": True}),
]

# axe-core rules (critical/serious) that may fail, each for a reason outside our pages.
# Keyed by rule id; the value says why it is accepted. Keep this list short.
AXE_ALLOWED: dict[str, str] = {}


# --- serving the build and driving the browser -------------------------------------------

@pytest.fixture(scope="module")
def site(request) -> Path:
    """The HTML folder to check: ``$TAI_BOOK_HTML``, else the session's book build."""
    if os.environ.get("TAI_BOOK_HTML"):
        return Path(os.environ["TAI_BOOK_HTML"])
    build = request.getfixturevalue("book_build")
    assert build.returncode == 0, (f"jupyter-book build failed (exit {build.returncode}); "
                                   f"see test_book.py's report and {build.log_path}")
    return build.html


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
def server(site):
    """Serve the built HTML on a free port of 127.0.0.1; yields the server."""
    httpd = _Server(site)
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
    """Headless Chromium (fails, not skips, when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium "
                    "and axe-core), then run the tests again.")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def context(browser):
    """One browsing context (desktop size) for every page, as a reader's browser: pages
    after the first find the theme's files in its cache."""
    context = browser.new_context(viewport=DESKTOP)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script, injected into each page from disk (never from the network)."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make browser`.")
    return AXE.read_text()


# --- what is measured in the page ---------------------------------------------------------

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

# The page is ready to measure once MathJax has typeset it and the fonts it asked for
# (MathJax's among them) have loaded; waiting for the network to go quiet instead costs
# half a second per page.
_SETTLED = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
}
"""

# Text a reader sees that is still TeX: delimiters or a backslash command, outside code.
_RAW_TEX = r"""
() => {
  const skip = "pre, code, kbd, samp, script, style, mjx-container, .highlight, .math, .eqno";
  const tex = /\\[\(\)\[\]]|\$\$|\\[a-zA-Z]{2,}/;
  const main = document.querySelector("main") || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest(skip)) continue;
    if (tex.test(node.textContent)) found.push(node.textContent.trim().slice(0, 80));
  }
  // Formulas MathJax did not pick up keep their class but hold no mjx-container.
  for (const el of main.querySelectorAll(".math")) {
    if (!el.querySelector("mjx-container")) found.push(el.textContent.trim().slice(0, 80));
  }
  return found;
}
"""

# Display equations wider than the text column.
_WIDE_EQUATIONS = """
() => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main");
  const limit = column.clientWidth;
  return Array.from(document.querySelectorAll('mjx-container[display="true"]'))
    .map(c => ({width: Math.round(c.querySelector("mjx-math").getBoundingClientRect().width),
                box: c.closest("div.math"),
                id: (c.closest("[id]") || {}).id || ""}))
    .filter(e => e.width > limit || (e.box && e.box.scrollWidth > e.box.clientWidth + 1))
    .map(e => `${e.id || "(no id)"}: ${e.width} px in a ${limit} px column`);
}
"""

# Output figures: alt text that says something (not a file path) and a caption.
_FIGURES = r"""
() => Array.from(document.querySelectorAll(".cell_output img")).map(img => {
  const alt = (img.getAttribute("alt") || "").trim();
  const figure = img.closest("figure");
  const caption = figure ? (figure.querySelector("figcaption") || {}).textContent || "" : "";
  // A file name or path (one word holding a "/" or an image suffix) says nothing.
  const pathLike = !alt || (/^\S+$/.test(alt) && /\/|\.(png|jpe?g|svg|gif)$/i.test(alt));
  return {src: img.getAttribute("src"), alt: alt.slice(0, 60),
          badAlt: pathLike || alt.length < 15, noCaption: caption.trim().length < 10};
}).filter(f => f.badAlt || f.noCaption)
"""

# The elements that stick out of a parent that fits the viewport (why a page scrolls
# sideways); content of a box that scrolls or clips itself, or of a fixed drawer, is not.
_SIDEWAYS = """
() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  const right = el => el.getBoundingClientRect().right;
  const contained = el => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX !== "visible" || style.position === "fixed") return true;
    }
    return getComputedStyle(el).position === "fixed";
  };
  return Array.from(document.querySelectorAll("body *"))
    .filter(el => right(el) > width + 1 && right(el.parentElement) <= width + 1)
    .filter(el => !contained(el))
    .slice(0, 8)
    .map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} `
               + `(right edge ${Math.round(right(el))} px)`);
}
"""

_AXE = """
async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "critical" || v.impact === "serious")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}
"""


def _open(context, server, path, checks):
    """A new page (desktop size) showing ``path``; returns (page, log)."""
    log = {"requests": [], "failures": [], "errors": [], "arrived": "redirect" not in checks}
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("request", lambda request: log["requests"].append(request.url))

    def on_failed(request):
        # Leaving the redirect page aborts what it was still fetching (its favicon).
        if log["arrived"] or "ERR_ABORTED" not in (request.failure or ""):
            log["failures"].append(f"{request.url}: {request.failure}")

    page.on("requestfailed", on_failed)
    page.on("response", lambda response: log["failures"].append(
        f"{response.url}: HTTP {response.status}") if response.status >= 400 else None)
    page.on("pageerror", lambda error: log["errors"].append(str(error)))
    page.goto(server.url + path, wait_until="load")
    if "redirect" in checks:
        page.wait_for_url("**/" + checks["redirect"])
        page.wait_for_load_state("load")
        log["arrived"] = True
    page.evaluate(_SETTLED)
    return page, log


# --- the checks ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, path, heading, checks", PAGES, ids=[p[0] for p in PAGES])
def test_page_reads_well(context, server, axe_source, name, path, heading, checks):
    """Every check at 1280 px, then the sideways scroll at 390 px (the same page, resized:
    one load per page keeps the test within its minute); all problems reported together."""
    server.responses.clear()
    page, log = _open(context, server, path, checks)
    problems = []
    try:
        h1 = page.locator("article h1, main h1").first.inner_text()
        if not page.title().strip() or not h1.strip() or heading not in h1:
            problems.append(f"expected a <title> and an <h1> containing {heading!r}, "
                            f"got {page.title()!r} and {h1!r}")

        # Every image loaded; a walkthrough shows figures from its run, each described.
        images = page.evaluate(_WAIT_FOR_IMAGES)
        broken = [img["src"] for img in images if not img["ok"]]
        if broken:
            problems.append(f"expected every image to load; these did not: {broken}")
        if checks.get("figure") and not any(img["output"] for img in images):
            problems.append("expected a figure in the notebook's outputs, found none")
        undescribed = page.evaluate(_FIGURES)
        if undescribed:
            problems.append(f"expected every output figure to have an alt text saying what "
                            f"it shows (not a file path) and a caption; {len(undescribed)} "
                            f"do not, e.g. {undescribed[:2]}")

        # Math: typeset by the vendored MathJax, no TeX errors, none left raw, none too wide.
        typeset = page.locator("mjx-container").count()
        errors = page.locator("mjx-merror").count()
        if checks.get("math") and (typeset < 10 or errors):
            problems.append(f"expected at least 10 formulas typeset and no TeX error, got "
                            f"{typeset} and {errors} (failed requests: {log['failures']})")
        raw = page.evaluate(_RAW_TEX)
        if raw:
            problems.append(f"expected no raw TeX on the page, found: {raw}")
        wide = page.evaluate(_WIDE_EQUATIONS)
        if wide:
            problems.append(f"expected every display equation to fit the column: {wide}")

        # The search page, queried for a word used next to formulas: plain-text snippets.
        if checks.get("search"):
            page.wait_for_selector("ul.search li p.context", timeout=20_000)
            snippets = page.locator("ul.search li p.context").all_inner_texts()
            tex = [s[:100] for s in snippets if "\\(" in s or "\\[" in s or "$$" in s]
            if not snippets or tex:
                problems.append(f"expected search snippets without TeX, got: {tex or snippets}")

        if checks.get("colab") and not page.locator(
                "a[href*='colab.research.google.com']").count():
            problems.append("expected a link that opens the notebook in Colab, found none")

        page.add_script_tag(content=axe_source)
        violations = [v for v in page.evaluate(_AXE) if v["id"] not in AXE_ALLOWED]
        problems += [f"axe-core {v['impact']} {v['id']}: {v['help']} at {v['targets']}"
                     for v in violations]

        page.set_viewport_size(PHONE)
        sideways = page.evaluate(_SIDEWAYS)
        if sideways:
            problems.append(f"expected no sideways scroll at {PHONE['width']} px; the page is "
                            f"{page.evaluate('document.documentElement.scrollWidth')} px wide "
                            f"because of: {sideways}")
        if problems:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        page.close()

    problems += log["failures"] + [f"{p} (served): HTTP {code}"
                                   for p, code in server.responses if code >= 400]
    problems += [f"JavaScript error: {error}" for error in log["errors"]]
    problems += [f"request left 127.0.0.1: {url}" for url in log["requests"]
                 if urlparse(url).scheme not in ("data", "blob", "about")
                 and urlparse(url).hostname != "127.0.0.1"]
    if checks.get("math") and not any("/mathjax/" in url for url in log["requests"]):
        problems.append("expected MathJax to load from the book itself")
    assert not problems, (f"{name} (screenshot at {PHONE['width']} px in {ARTIFACTS}):\n  "
                          + "\n  ".join(problems))
