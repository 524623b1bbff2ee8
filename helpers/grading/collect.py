"""Find the submissions to grade: nbgrader's ``submitted/`` layout or an LMS zip.

Two inputs are understood:

- a folder laid out like nbgrader's ``submitted/``: ``<student>/<lab>/<lab>_lab.ipynb``;
- a zip downloaded from an LMS (or a folder of its extracted files), read with nbgrader's
  ``zip_collect`` convention: each file name is matched against
  ``c.FileNameCollectorPlugin.named_regexp`` of ``nbgrader_config.py``, whose
  ``student_id``, ``lms_id`` and ``file_id`` groups give the student, the LMS's numeric
  id and the notebook (``<lab>_lab.ipynb``, also with an LMS's ``-1`` resubmission
  suffix); the student's folder is the roster's id for that LMS id, else
  ``<name>_<lms id>``.

Either way the notebooks are copied into the course's ``submitted/<student>/<lab>/``
(where nbgrader's formgrader expects them) and graded from there.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .course import GradingError

LAYOUT = "SUBMISSIONS/<student>/<lab>/<lab>_lab.ipynb"
MAX_MEMBER_MB = 50  # larger zip members are skipped (zip-bomb guard)


@dataclass(frozen=True)
class Submission:
    """One student's folder for one lab; ``notebook`` None when it holds no notebook."""

    student: str
    lab: str
    folder: Path
    notebook: Path | None


def student_id(text: str) -> str:
    """A student id safe as a folder name (LMS names may hold spaces or accents)."""
    cleaned = re.sub(r"[^\w.-]+", "_", text.strip()).strip("._")
    if not cleaned:
        raise ValueError(f"student id {text!r} has no usable characters")
    return cleaned


def lab_of(file_name: str, labs: list[str]) -> str | None:
    """The lab a notebook file belongs to: ``<lab>_lab.ipynb``, ``<lab>_lab-2.ipynb``,
    ``<lab>_lab (1).ipynb``; None if it is no lab of ``labs``."""
    match = re.fullmatch(r"(.+?)_lab(?:[-_ ]?\(?\d+\)?)?\.ipynb", Path(file_name).name)
    return match.group(1) if match and match.group(1) in labs else None


def find(submissions: str | os.PathLike, labs: list[str], root: Path, named_regexp: str,
         roster: dict[str, str] | None = None) -> list[Submission]:
    """Every submission of ``labs`` in ``submissions`` (folder or zip), copied into
    ``root/submitted`` and sorted by (lab, student). ``roster`` maps LMS user ids to
    student ids (see `lms_student`). Raises `GradingError` naming the expected layouts
    when nothing is found."""
    source = Path(submissions)
    if not source.exists():
        raise GradingError(f"submissions {source} do not exist; expected a folder laid out "
                           f"as {LAYOUT} or an LMS zip")
    target = root / "submitted"
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise GradingError(f"{source} is neither a folder nor a zip file")
        with tempfile.TemporaryDirectory() as extracted:
            _extract(source, Path(extracted))
            found = _from_folder(Path(extracted), labs, target, named_regexp, roster or {})
    else:
        found = _from_folder(source, labs, target, named_regexp, roster or {})
    if not found:
        seen = sorted(str(p.relative_to(source)) for p in source.glob("*/*"))[:10] \
            if source.is_dir() else []
        raise GradingError(
            f"no submissions of {', '.join(labs)} in {source}; expected {LAYOUT} or LMS "
            f"file names matching c.FileNameCollectorPlugin.named_regexp, found: "
            f"{', '.join(seen) or 'nothing'}")
    return sorted(found, key=lambda s: (s.lab, s.student))


def _extract(archive: Path, into: Path) -> None:
    """Extract the regular files of a zip, refusing absolute or ``..`` paths and
    skipping huge members."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename)
            if info.is_dir() or name.is_absolute() or ".." in name.parts:
                continue
            if info.file_size > MAX_MEMBER_MB << 20:
                print(f"warning: skipping {info.filename} in {archive.name}: larger than "
                      f"{MAX_MEMBER_MB} MB", file=sys.stderr)
                continue
            dest = into / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)


def _from_folder(folder: Path, labs: list[str], target: Path, named_regexp: str,
                 roster: dict[str, str]) -> list[Submission]:
    """Submitted layout if the folder has ``<student>/<lab>/`` folders, else LMS names."""
    nested = [p for p in folder.glob("*/*") if p.is_dir() and p.name in labs]
    if nested:
        return _nested(folder, labs, target)
    return _lms(folder, labs, target, named_regexp, roster)


def lms_student(groups: dict, roster: dict[str, str]) -> str:
    """The student id of an LMS file: the roster's id for its LMS user id, else the name
    with the LMS id appended (``smithjane_12345``), so that two students of the same
    name never share a folder."""
    lms_id = groups.get("lms_id")
    if lms_id and lms_id in roster:
        return roster[lms_id]
    return student_id(f"{groups['student_id']}_{lms_id}" if lms_id else groups["student_id"])


def _nested(folder: Path, labs: list[str], target: Path) -> list[Submission]:
    found = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if student_dir.name.startswith("."):
            continue
        mine = [lab for lab in labs if (student_dir / lab).is_dir()]
        if not mine:
            content = ", ".join(sorted(p.name for p in student_dir.iterdir())[:5]) or "empty"
            print(f"warning: ignoring {student_dir.name}/ ({content}): no folder named "
                  f"{' or '.join(labs)}; expected {LAYOUT}", file=sys.stderr)
        for lab in mine:
            dest = target / student_dir.name / lab
            if dest.resolve() != (student_dir / lab).resolve():
                if dest.exists():
                    shutil.rmtree(dest)
                shutil.copytree(student_dir / lab, dest, symlinks=True)
            notebook = dest / f"{lab}_lab.ipynb"
            found.append(Submission(student_dir.name, lab, dest,
                                    notebook if notebook.is_file() else None))
    return found


def _lms(folder: Path, labs: list[str], target: Path, named_regexp: str,
         roster: dict[str, str]) -> list[Submission]:
    """Files named by an LMS, matched as nbgrader's FileNameCollectorPlugin does."""
    if not named_regexp:
        return []
    latest: dict[tuple[str, str], tuple[str, Path]] = {}
    for path in sorted(folder.rglob("*.ipynb")):
        if path.is_symlink():
            continue
        match = re.match(named_regexp, path.name)
        if not match or "student_id" not in match.groupdict():
            print(f"warning: ignoring {path.name}: its name does not match "
                  "c.FileNameCollectorPlugin.named_regexp", file=sys.stderr)
            continue
        groups = match.groupdict()
        lab = lab_of(groups.get("file_id") or path.name, labs)
        if lab is None:
            continue
        key = (lms_student(groups, roster), lab)
        order = groups.get("timestamp") or path.name
        if key in latest:
            print(f"warning: {key[0]} has several {lab} files; grading the latest",
                  file=sys.stderr)
        if key not in latest or order >= latest[key][0]:
            latest[key] = (order, path, groups.get("timestamp"))
    found = []
    for (student, lab), (_, path, stamp) in sorted(latest.items()):
        dest = target / student / lab
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        shutil.copyfile(path, dest / f"{lab}_lab.ipynb")
        if stamp:  # where nbgrader's exchange keeps the submission time
            (dest / "timestamp.txt").write_text(stamp, encoding="utf-8")
        found.append(Submission(student, lab, dest, dest / f"{lab}_lab.ipynb"))
    return found
