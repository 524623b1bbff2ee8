"""The package's import layers: core → chapter modules → plots, never upward.

- core (``checks``, ``profiles``, ``paths``, ``data``, ``models``, ``train``, ``attacks``,
  ``losses``, ``plots``) imports only core;
- a chapter module imports core and chapter modules, never a ``*_plots`` module;
- a ``*_plots`` module draws: it may import anything but ``grading``;
- no module imports a private (underscore) name of another helpers module;
- the chapter list lives in one place (``helpers.CHAPTERS``) and matches the book.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from helpers import CHAPTERS

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "helpers"
CORE = {"checks", "profiles", "paths", "data", "models", "train", "attacks", "losses", "plots"}


def layer(module: str) -> str:
    top = module.split(".")[0]
    if top in CORE:
        return "core"
    if top == "grading":
        return "grading"
    return "plots" if top.endswith("_plots") else "chapter"


def helpers_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported helpers module, imported names) for every import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("helpers"):
            parts = node.module.split(".")[1:]
            if parts:
                found.append((".".join(parts), [alias.name for alias in node.names]))
            else:  # from helpers import attacks, data
                found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name.split(".", 1)[1], []) for alias in node.names
                      if alias.name.startswith("helpers.")]
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py")
                 if "grading" not in p.relative_to(PACKAGE).parts and p.name != "__init__.py"
                 or p.parent.name == "data")
ALLOWED = {"core": {"core"}, "chapter": {"core", "chapter"},
           "plots": {"core", "chapter", "plots"}}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_upward_import(path):
    module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    own = layer(module)
    for imported, _ in helpers_imports(path):
        if imported == "CHAPTERS":
            continue
        assert layer(imported) in ALLOWED[own], (
            f"helpers/{path.relative_to(PACKAGE)} ({own}) imports helpers.{imported} "
            f"({layer(imported)}): expected only {sorted(ALLOWED[own])} layers")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")) + sorted(REPO.glob("tests/*.py")),
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_private_name_crosses_a_module(path):
    private = [(module, name) for module, names in helpers_imports(path) for name in names
               if name.startswith("_")]
    assert not private, f"{path.relative_to(REPO)} imports private names {private}"


def test_the_chapter_list_matches_the_book_and_the_labs():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    in_toc = [Path(entry["file"]).parts[1] for part in toc["parts"]
              for entry in part["chapters"] if entry["file"].endswith("/index")]
    assert tuple(in_toc) == CHAPTERS, f"expected the toc's chapters {CHAPTERS}, got {in_toc}"
    for folder in ("book", "solutions", "labs"):
        present = {p.parent.name for p in (REPO / folder).glob("*/*.ipynb")}
        assert present == set(CHAPTERS), f"{folder}/: expected {set(CHAPTERS)}, got {present}"


NOTEBOOKS = sorted(REPO.glob("book/*/*.ipynb")) + sorted(REPO.glob("solutions/*/*.ipynb"))
MODULE_NAMES = {p.stem for p in PACKAGE.glob("*.py")} | {"data", "grading"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_notebooks_use_no_private_helpers_name(path):
    import json
    import re

    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    used = {(m, n) for m, n in re.findall(r"\b([a-z_]+)\.(_[a-z]\w*)", code)
            if m in MODULE_NAMES}
    assert not used, f"{path.relative_to(REPO)} uses private helpers names {sorted(used)}"
