"""The course directory and nbgrader: configuration, lab names, release.

The course directory is the folder holding ``nbgrader_config.py`` (the repository root);
assignment id = chapter name; see ``nbgrader_config.py`` for the folder mapping.
nbgrader is the optional ``grading`` extra (``pip install -e .[grading]``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"
# Notebook-level metadata kept in released labs (``tai``: the kit's functions a student may
# not call, which the check command watches too); everything else (widget state, editor
# settings, papermill records, the nbgrader toolbar) is instructor-side noise.
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info", "tai")


class GradingError(RuntimeError):
    """A problem the instructor has to fix (message says how); no traceback needed."""


# ----------------------------------------------------------------------------- setup

def nbgrader():
    """Import nbgrader lazily: it is an optional dependency (the ``grading`` extra)."""
    try:
        import nbgrader.apps  # noqa: F401
    except ImportError as error:
        raise GradingError(
            "nbgrader is not installed. Install the grading tools with: "
            "pip install -e .[grading]") from error
    # nbgrader runs the `alembic` console script (via PATH) when it creates a gradebook;
    # make it findable when this interpreter's environment is not activated.
    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    import nbgrader
    return nbgrader


def course_root(course_dir: str | os.PathLike = ".") -> Path:
    """The course directory: ``course_dir`` made absolute, checked to hold the config."""
    root = Path(course_dir).resolve()
    if not (root / CONFIG_FILE).is_file():
        raise GradingError(
            f"{root} is not the course directory (no {CONFIG_FILE} there). Run from the "
            "repository root or pass --course-dir.")
    return root


def available_labs(course_dir: str | os.PathLike = ".") -> list[str]:
    """Lab names (= chapter folders) found in ``solutions/``, sorted."""
    solutions = course_root(course_dir) / "solutions"
    if not solutions.is_dir():
        return []
    return sorted(p.name for p in solutions.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")))


def check_labs(labs, course_dir) -> list[str]:
    """``labs`` (None = all) validated against ``solutions/``; raises on unknown names."""
    known = available_labs(course_dir)
    if not labs:
        if not known:
            raise GradingError("no labs found: solutions/ has no chapter folders.")
        return known
    unknown = [lab for lab in labs if lab not in known]
    if unknown:
        raise GradingError(f"unknown lab {', '.join(map(repr, unknown))}; "
                           f"labs in solutions/: {', '.join(known) or '(none)'}")
    return list(labs)


def config(course_dir="."):
    """The course's nbgrader configuration, a traitlets Config: the ``nbgrader_config.py``
    files on Jupyter's config path (e.g. a hub's course id and exchange folder), then the
    course folder's own, which wins -- the files and order nbgrader's commands use."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader
    root = course_root(course_dir)
    cfg = Config()
    for folder in [*reversed(jupyter_config_path()), str(root)]:
        if (Path(folder) / CONFIG_FILE).is_file():
            cfg.merge(PyFileConfigLoader(CONFIG_FILE, path=folder).load_config())
    cfg.CourseDirectory.root = str(root)
    return cfg


def api(course_dir="."):
    """An ``nbgrader.apps.NbGraderAPI`` for the course (logs are captured per call)."""
    nbgrader()
    from nbgrader.apps import NbGraderAPI
    return NbGraderAPI(config=config(course_dir))


def failure(what: str, result: dict) -> GradingError:
    """A GradingError from a failed NbGraderAPI result, with nbgrader's log tail."""
    log = (result.get("log") or "") + (result.get("error") or "")
    tail = "\n".join(log.strip().splitlines()[-25:])
    return GradingError(f"{what} failed. nbgrader said:\n{tail}")


# --------------------------------------------------------------------------- release

def normalize_notebook(path: str | os.PathLike, source: str | os.PathLike | None = None) -> None:
    """Rewrite a released notebook deterministically (regenerating gives no git diff).

    Clears outputs and execution counts, keeps only ``KEPT_NOTEBOOK_METADATA`` (without
    ``language_info.version``) and gives every cell the id of the matching cell in
    ``source`` (the solution notebook), or a stable id derived from its position, so
    that no random cell id is ever committed.
    """
    import nbformat
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    src_cells = nbformat.read(source, as_version=4).cells if source else []
    same_shape = len(src_cells) == len(nb.cells)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEPT_NOTEBOOK_METADATA}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"].pop("version", None)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if "id" in cell or nb.nbformat_minor >= 5:
            src_id = src_cells[index].get("id") if same_shape else None
            cell["id"] = src_id or f"cell-{index}"
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def release(labs: list[str] | None = None, course_dir: str | os.PathLike = ".") -> list[Path]:
    """Regenerate ``labs/<lab>/`` from ``solutions/<lab>/`` (all labs by default).

    Runs ``nbgrader generate_assignment --force`` (which also records the lab's cells
    and points in the gradebook, needed before autograding), then normalizes the
    released notebooks. Returns the written notebook paths.
    """
    labs = check_labs(labs, course_dir)
    nb_api = api(course_dir)
    root = course_root(course_dir)
    written = []
    for lab in labs:
        result = nb_api.generate_assignment(lab, force=True, create=True)
        if not result["success"]:
            raise failure(f"releasing {lab}", result)
        for notebook in sorted((root / "labs" / lab).glob("*.ipynb")):
            normalize_notebook(notebook, root / "solutions" / lab / notebook.name)
            written.append(notebook)
    return written
