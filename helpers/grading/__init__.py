"""Instructor tools for the labs: release, sandboxed autograding, feedback, grades.

Built on nbgrader (the ``grading`` extra: ``pip install -e .[grading]``) for releasing
labs and for the gradebook; student code runs in a bubblewrap sandbox. One module per
concern:

- `course`     the course directory, nbgrader's configuration, ``release``
- `collect`    submissions from nbgrader's ``submitted/`` layout or an LMS zip
- `notebooks`  the merged notebook: the instructor's cells + the student's answers
- `sandbox`    the bubblewrap command line and the resource limits
- `runner`     the cell runner inside the sandbox (standard library only)
- `execute`    drives one sandboxed run and reads back trusted results
- `gradebook`  the one writer to ``gradebook.db``, result files (resume)
- `batch`      a whole class in parallel, with a progress bar
- `reports`    feedback without hidden tests, grades CSV, per-lab summary

Command line: ``python -m helpers.grading --help`` (see `__main__`).
"""

from .batch import autograde
from .collect import Submission
from .course import GradingError, available_labs, course_root, normalize_notebook, release
from .reports import export, feedback, summary
from .sandbox import Limits, SandboxUnavailable

__all__ = ["GradingError", "Limits", "SandboxUnavailable", "Submission", "autograde",
           "available_labs", "course_root", "export", "feedback", "normalize_notebook",
           "release", "summary"]
