"""The book: it builds without a warning, its site is lean and readable in order, the
Labs page links every lab, and every walkthrough starts with the "install the kit" cell.

The build-dependent tests use the session's one book build (conftest.py: ``jupyter-book
build --all -W -n --keep-going``, every walkthrough executed in the ``tiny`` profile);
the pages in a real browser are checked in ``tests/test_browser.py``. The install cell's
logic is checked offline, with a stand-in ``pip`` that records what it was asked to do.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import paths

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "book" / "_scripts"))
import book_site  # noqa: E402  (book/_scripts is not a package)
import install_cell  # noqa: E402

CHAPTERS = book_site.chapters()
LOG_TAIL_LINES = 40
MATHJAX_FILES = re.compile(r"^mathjax/(tex-chtml\.js|output/chtml/fonts/woff-v2/[\w-]+\.woff"
                           r"|\.vendored-version)$")
MAX_SITE_MB = 25


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


def _toc_pages() -> list[str]:
    """Every page of _toc.yml in reading order, as paths of the HTML output."""
    return ["book/intro.html"] + [f"{name}.html" for name in
                                  re.findall(r"file: (\S+)", (REPO / "_toc.yml").read_text())]


# --- the build ----------------------------------------------------------------------------

@pytest.mark.slow
def test_book_builds_without_warnings(book):
    missing = [page for page in _toc_pages() if not (book / page).exists()]
    assert not missing, f"expected every page of _toc.yml in the build; missing: {missing}"
    assert (book / "mathjax" / "tex-chtml.js").exists(), "MathJax was not copied to the build"


@pytest.mark.slow
def test_site_is_lean(book):
    maps = sorted(str(p.relative_to(book)) for p in book.rglob("*.map"))
    assert not maps, f"expected no source maps in the published site, got {maps}"
    named = [str(p.relative_to(book)) for p in (book / "_static").rglob("*.js")
             if "sourceMappingURL=" in p.read_text(errors="replace")]
    assert not named, f"expected no script to name a source map, got {named}"
    extra = [p.relative_to(book).as_posix() for p in (book / "mathjax").rglob("*")
             if p.is_file() and not MATHJAX_FILES.match(p.relative_to(book).as_posix())]
    assert not extra, f"expected only the MathJax files the pages load, also got {extra[:5]}"
    megabytes = sum(p.stat().st_size for p in book.rglob("*") if p.is_file()) / 2**20
    assert megabytes < MAX_SITE_MB, f"expected a site under {MAX_SITE_MB} MB, got {megabytes:.1f}"


@pytest.mark.slow
def test_no_machine_paths_in_the_book(book, book_build):
    machine = {str(REPO), str(book_build.html.parent.parent), str(Path.home())}
    found = {}
    for page in [*book.rglob("*.html"), book / "searchindex.js"]:
        text = page.read_text(errors="replace")
        hits = sorted(path for path in machine if path in text)
        if hits:
            found[str(page.relative_to(book))] = hits
    assert not found, f"expected no path of the build machine in the pages, got {found}"


@pytest.mark.slow
def test_reader_flow_follows_the_table_of_contents(book):
    """Each page's "next" link leads on in _toc.yml's order: intro, setup, labs, the
    chapters (theory, walkthrough), results, instructor guide, bibliography."""
    pages = _toc_pages()
    order = [page.removesuffix(".html") for page in pages]
    assert order.index("book/instructor") > order.index("book/summary/results") > max(
        order.index(f"book/{chapter}/{chapter}") for chapter in CHAPTERS), (
        f"expected the chapters, then the results, then the instructor guide; got {order}")
    for page, following in zip(pages, pages[1:]):
        html = (book / page).read_text()
        found = re.search(r'class="right-next"\s+href="([^"]+)"', html)
        target = (book / page).parent.joinpath(found.group(1)).resolve() if found else None
        assert target == (book / following).resolve(), (
            f"{page}: expected 'next' to lead to {following}, got {found and found.group(1)}")


@pytest.mark.slow
def test_labs_page_links_every_lab(book):
    html = (book / "book" / "labs.html").read_text()
    repository = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]
    for chapter in CHAPTERS:
        path = f"labs/{chapter}/{chapter}_lab.ipynb"
        download = re.search(rf'href="(\.\./_downloads/\w+/{chapter}_lab\.ipynb)"', html)
        assert download and (book / "book" / download.group(1)).resolve().is_file(), (
            f"expected a working download link for {path} on the Labs page")
        colab = book_site.colab_url(repository["url"], repository["branch"], path)
        assert colab in html, f"expected the Colab link {colab} on the Labs page"
        stated = book_site.lab_time(json.loads((REPO / path).read_text()))
        assert stated, f"{path}: expected a 'Time: about N minutes' line in its submit box"
        assert stated in html, f"expected the Labs page to give {path}'s time, {stated!r}"


# --- the install cell (no build needed) ---------------------------------------------------

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_walkthrough_starts_with_the_install_cell(chapter):
    notebook = json.loads((REPO / "book" / chapter / f"{chapter}.ipynb").read_text())
    first = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    expected = install_cell.install_cell_source()
    assert "".join(first["source"]) == expected, (
        f"book/{chapter}/{chapter}.ipynb: expected the first code cell to be the install "
        f"cell; run `python book/_scripts/install_cell.py book/{chapter}/{chapter}.ipynb`")
    assert not first["outputs"], f"book/{chapter}/{chapter}.ipynb: install cell has outputs"


def test_install_cell_installs_from_the_configured_repository():
    repository = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]
    url, branch = repository["url"].rstrip("/"), repository["branch"]
    source = install_cell.install_cell_source()
    assert f'REPOSITORY = "{url}"' in source and f'@{branch}"' in source, \
        f"expected the cell to pip-install git+{url}@{branch}:\n{source}"
    assert install_cell.pip_requirement() == f"git+{url}@{branch}"


def _run_cell(cwd: Path, fake_pip: Path, *python_flags: str) -> subprocess.CompletedProcess:
    """Run the install cell in a fresh interpreter whose ``python -m pip`` is the stand-in
    next to ``fake_pip`` (the file it records its arguments in)."""
    return subprocess.run([sys.executable, *python_flags, "-c",
                           install_cell.install_cell_source()],
                          cwd=cwd, env={"PYTHONPATH": str(fake_pip.parent / "fake"),
                                        "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def fake_pip(tmp_path) -> Path:
    """A ``pip`` package whose ``python -m pip …`` records its arguments in a JSON file."""
    package = tmp_path / "fake" / "pip"
    package.mkdir(parents=True)
    record = tmp_path / "pip-call.json"
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(
        f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    return record


def test_install_cell_does_nothing_inside_the_repository(fake_pip):
    result = _run_cell(REPO / "book" / "ood", fake_pip)
    assert result.returncode == 0, f"expected the cell to run cleanly:\n{result.stderr}"
    assert not fake_pip.exists(), (
        f"expected no pip call where helpers is importable, got {fake_pip.read_text()}")


def test_install_cell_installs_the_kit_outside_the_repository(tmp_path, fake_pip):
    # -S: no site-packages, so `helpers` cannot be imported, as in a fresh Colab session.
    result = _run_cell(tmp_path, fake_pip, "-S")
    assert result.returncode == 0, f"expected the cell to run cleanly:\n{result.stderr}"
    assert fake_pip.exists(), "expected the cell to call pip where helpers is missing"
    arguments = json.loads(fake_pip.read_text())
    assert arguments == ["install", "--quiet", install_cell.pip_requirement()], (
        f"expected `pip install --quiet {install_cell.pip_requirement()}`, got {arguments}")


def test_install_cell_insertion_is_idempotent(tmp_path):
    notebook = {"cells": [{"cell_type": "markdown", "id": "t", "metadata": {},
                           "source": ["# Title"]},
                          {"cell_type": "code", "execution_count": None, "id": "p",
                           "metadata": {"tags": ["parameters"]}, "outputs": [],
                           "source": ["profile = 'tiny'"]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    assert install_cell.insert_install_cell(path), "expected the first insertion to change it"
    assert not install_cell.insert_install_cell(path), "expected a second run to change nothing"
    cells = json.loads(path.read_text())["cells"]
    kinds = [cell.get("metadata", {}).get("tags", [None])[0] for cell in cells]
    assert kinds == [None, install_cell.TAG, "parameters"], (
        f"expected title, install cell, parameters; got tags {kinds}")


# --- paths shown to the reader ------------------------------------------------------------

def test_display_path_hides_the_machine(tmp_path, monkeypatch):
    written = paths.save_results("ood", "tiny", {"auroc": 0.5})
    assert paths.display_path(written) == "$TAI_OUTPUT_DIR/ood/results-tiny.json", (
        f"expected the path relative to $TAI_OUTPUT_DIR, got {paths.display_path(written)}")
    monkeypatch.delenv(paths.OUTPUT_ENV_VAR)
    monkeypatch.delenv(paths.DATA_ENV_VAR)
    inside = paths._default_root() / "outputs" / "ood" / "results-tiny.json"
    assert paths.display_path(inside) == "outputs/ood/results-tiny.json", (
        f"expected outputs/ood/results-tiny.json, got {paths.display_path(inside)}")
    elsewhere = tmp_path / "somewhere" / "file.json"
    assert paths.display_path(elsewhere) == "file.json", (
        f"expected the bare file name for a path outside the kit's folders, "
        f"got {paths.display_path(elsewhere)}")
