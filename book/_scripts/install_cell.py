"""The "install the kit" cell that opens every walkthrough and lab, from ONE place.

Outside the repository (Google Colab, a fresh JupyterHub server) the notebooks' ``from
helpers import …`` would fail: the cell pip-installs the course package from the
repository URL set once in ``_config.yml`` (``repository.url`` and ``branch``, which
also drive the book's launch buttons). Inside the repository ``helpers`` is importable
and the cell does nothing.

Insert or refresh the cell (as the first code cell, tagged ``install-kit``)::

    python book/_scripts/install_cell.py book/*/*.ipynb solutions/*/*_lab.ipynb

From Python: ``install_cell_source()`` is the cell's text, ``insert_install_cell(path)``
puts it into one notebook. ``tests/test_book.py`` checks that every walkthrough starts
with exactly this cell and runs its logic offline.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "_config.yml"
TAG = "install-kit"

_TEMPLATE = '''\
# Outside the course repository (e.g. in Google Colab) install the course package first;
# inside the repository `helpers` is already importable and this cell does nothing.
import importlib.util
import subprocess
import sys

REPOSITORY = "{url}"
KIT = f"git+{{REPOSITORY}}@{branch}"
if importlib.util.find_spec("helpers") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", KIT], check=True)
    importlib.invalidate_caches()'''


def repository(config: Path = CONFIG) -> tuple[str, str]:
    """``(repository.url, repository.branch)`` of ``config``."""
    settings = yaml.safe_load(Path(config).read_text()).get("repository") or {}
    url = str(settings.get("url") or "").rstrip("/")
    if not url.startswith("https://"):
        raise ValueError(f"config={config}: repository.url must be an https URL, got {url!r}")
    return url, str(settings.get("branch") or "main")


def pip_requirement(config: Path = CONFIG) -> str:
    """What the cell pip-installs: ``git+<repository.url>@<repository.branch>`` of ``config``."""
    url, branch = repository(config)
    return f"git+{url}@{branch}"


def install_cell_source(config: Path = CONFIG) -> str:
    """The install cell's source text (no trailing newline), for the repository in ``config``."""
    url, branch = repository(config)
    return _TEMPLATE.format(url=url, branch=branch)


def _code_cell(source: str) -> dict:
    """An nbformat 4.5 code cell without outputs, tagged ``install-kit``."""
    return {"cell_type": "code", "execution_count": None, "id": TAG,
            "metadata": {"tags": [TAG]}, "outputs": [],
            "source": source.splitlines(keepends=True)}


def insert_install_cell(path: Path, config: Path = CONFIG) -> bool:
    """Make the install cell the first code cell of notebook ``path``; True if the file changed.

    A cell tagged ``install-kit`` is replaced in place (keeping its metadata, e.g.
    nbgrader's); otherwise the cell goes right before the first code cell (after the
    title). The file is read and written at once, so others' edits to other cells stay.
    """
    path = Path(path)
    text = path.read_text()
    notebook = json.loads(text)
    cells = notebook["cells"]
    cell = _code_cell(install_cell_source(config))
    tagged = [i for i, c in enumerate(cells) if TAG in c.get("metadata", {}).get("tags", [])]
    if tagged:
        old = cells[tagged[0]]
        cell["id"], cell["metadata"] = old.get("id", TAG), old["metadata"]
        cells[tagged[0]] = cell
    else:
        first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"),
                          len(cells))
        cells.insert(first_code, cell)
    new_text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    if new_text == text:
        return False
    path.write_text(new_text)
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: insert or refresh the cell in each notebook given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    for path in parser.parse_args(argv).notebooks:
        print(f"{path}: {'updated' if insert_install_cell(path) else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
