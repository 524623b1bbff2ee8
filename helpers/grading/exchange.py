"""The instructor's side of nbgrader's exchange on a JupyterHub, with the kit's checks.

    python -m helpers.grading exchange setup            # create the exchange folder
    python -m helpers.grading exchange release LAB      # make labs + publish LAB
    python -m helpers.grading exchange collect LAB      # submissions -> submitted/
    python -m helpers.grading exchange feedback LAB     # feedback pages -> the exchange

The exchange folder (``c.Exchange.root``) and the course id
(``c.CourseDirectory.course_id``) come from the nbgrader configuration (on a hub,
``hub/config/common/nbgrader_config.py``). Every step first checks the folder and says
what to fix. Grading itself is ``python -m helpers.grading grade submitted``: the kit's
sandboxed grader, never nbgrader's unsandboxed autograde.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .course import GradingError, api, check_labs, config, failure, release
from .reports import feedback

MODE = 0o777  # nbgrader's documented setting: every user can write (sticky bit optional)


def exchange_root(course_dir: str | os.PathLike = ".") -> tuple[Path, str]:
    """The exchange folder and the course id from the configuration."""
    cfg = config(course_dir)
    root = Path(cfg.get("Exchange", {}).get("root", "/srv/nbgrader/exchange"))
    course_id = cfg.CourseDirectory.get("course_id", "")
    if not course_id:
        raise GradingError("no course id: set c.CourseDirectory.course_id in an "
                           "nbgrader_config.py (on the hub: hub/config/common/)")
    return root, course_id


def check_exchange(root: Path) -> None:
    """Raise `GradingError` naming ``root`` and the fix unless every user can use it."""
    if not root.is_dir():
        raise GradingError(f"the exchange folder {root} does not exist; create it with "
                           f"`python -m helpers.grading exchange setup` (as root: "
                           f"mkdir -p {root} && chmod ugo+rwx {root})")
    mode = stat.S_IMODE(root.stat().st_mode)
    if mode & MODE != MODE:
        raise GradingError(f"the exchange folder {root} has mode {mode:o}; every user must "
                           f"read, write and enter it: chmod ugo+rwx {root}")


def setup(course_dir: str | os.PathLike = ".") -> Path:
    """Create the exchange folder with the permissions nbgrader needs."""
    root, _ = exchange_root(course_dir)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(stat.S_IMODE(root.stat().st_mode) | MODE)
    check_exchange(root)
    return root


def _ready(lab: str, course_dir) -> tuple[Path, str, str]:
    """``(exchange folder, course id, lab)`` once the folder and the lab are checked."""
    root, course_id = exchange_root(course_dir)
    check_exchange(root)
    (lab,) = check_labs([lab], course_dir)
    return root, course_id, lab


def _api_call(what: str, course_dir, method: str, lab: str) -> dict:
    """One NbGraderAPI step on a checked lab; raises `GradingError` with nbgrader's log."""
    result = getattr(api(course_dir), method)(lab)
    if not result["success"]:
        raise failure(f"{what} {lab}", result)
    return result


def release_lab(lab: str, course_dir: str | os.PathLike = ".") -> None:
    """Regenerate ``labs/<lab>/`` and publish it in the exchange (replacing a previous
    release of it, which students who already fetched keep)."""
    exchange, course_id, lab = _ready(lab, course_dir)
    release([lab], course_dir)
    if (exchange / course_id / "outbound" / lab).exists():
        _api_call("withdrawing the previous release of", course_dir, "unrelease", lab)
    _api_call("releasing", course_dir, "release_assignment", lab)


def collect(lab: str, course_dir: str | os.PathLike = ".") -> None:
    """Copy the latest submission of every student into ``submitted/``."""
    _, _, lab = _ready(lab, course_dir)
    _api_call("collecting", course_dir, "collect", lab)


def return_feedback(lab: str, course_dir: str | os.PathLike = ".") -> None:
    """Rewrite the feedback pages and hand them out through the exchange."""
    _, _, lab = _ready(lab, course_dir)
    feedback(lab, course_dir)
    _api_call("releasing the feedback of", course_dir, "release_feedback", lab)
