"""Where data, checkpoints and results go.

- Data: ``$TAI_DATA_DIR``, else ``<repository>/data`` when running from a checkout,
  else ``~/.cache/trustworthy-ai/data``.
- Outputs (results files, checkpoints, figures): ``$TAI_OUTPUT_DIR``, else
  ``<repository>/outputs`` or ``~/.cache/trustworthy-ai/outputs``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

DATA_ENV_VAR = "TAI_DATA_DIR"
OUTPUT_ENV_VAR = "TAI_OUTPUT_DIR"
_REPO = Path(__file__).resolve().parent.parent


def _default_root() -> Path:
    if (_REPO / "_toc.yml").exists():
        return _REPO
    return Path.home() / ".cache" / "trustworthy-ai"


def _writable_dir(path: Path, what: str, env_var: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as error:
        raise PermissionError(
            f"The {what} directory {path} is not writable ({error.strerror}). "
            f"Point ${env_var} at a directory you can write to, e.g. "
            f"export {env_var}=$HOME/trustworthy-ai-{what}"
        ) from error
    return path


def data_dir() -> Path:
    """The data directory (created if missing). Raises ``PermissionError`` if unwritable."""
    path = Path(os.environ.get(DATA_ENV_VAR) or _default_root() / "data").expanduser()
    return _writable_dir(path, "data", DATA_ENV_VAR)


def output_dir(chapter: str) -> Path:
    """The output directory of one chapter (created if missing)."""
    root = Path(os.environ.get(OUTPUT_ENV_VAR) or _default_root() / "outputs").expanduser()
    return _writable_dir(root / chapter, "output", OUTPUT_ENV_VAR)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as handle:
        temporary = Path(handle.name)
        try:
            handle.write(text)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
    try:
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def save_results(chapter: str, profile: str, results: dict) -> Path:
    """Record a notebook's results as ``<outputs>/<chapter>/results-<profile>.json``.

    ``results`` must be JSON-serializable (numbers, strings, lists, dicts). Returns the path.
    The tests read this file to check the chapter's fidelity checks.
    """
    path = output_dir(chapter) / f"results-{profile}.json"
    atomic_write_text(path, json.dumps(results, indent=2, sort_keys=True))
    return path


def display_path(path: Path | str) -> str:
    """How a file the kit wrote is named to a reader, without the machine's own folders.

    Relative to the folder it lives under: ``$TAI_OUTPUT_DIR/…`` or ``$TAI_DATA_DIR/…``
    when set, else ``outputs/…`` or ``data/…`` of the repository (or of
    ``~/.cache/trustworthy-ai``); any other path is shown by its file name alone.
    Example: ``display_path(save_results("ood", "tiny", r))`` -> ``'outputs/ood/results-tiny.json'``.
    """
    path = Path(path).expanduser().resolve()
    roots = [(os.environ.get(name), f"${name}") for name in (OUTPUT_ENV_VAR, DATA_ENV_VAR)]
    roots += [(_default_root() / name, name) for name in ("outputs", "data")]
    for root, shown in roots:
        if not root:
            continue
        root = Path(root).expanduser().resolve()
        if path == root or path.is_relative_to(root):
            return "/".join([shown, *path.relative_to(root).parts])
    return path.name


def load_results(chapter: str, profile: str) -> dict:
    """Read what :func:`save_results` wrote."""
    path = output_dir(chapter) / f"results-{profile}.json"
    if not path.exists():
        raise FileNotFoundError(f"No results at {path}: run book/{chapter}/{chapter}.ipynb "
                                f"with profile={profile!r} first.")
    return json.loads(path.read_text())
