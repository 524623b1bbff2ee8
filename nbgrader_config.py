"""nbgrader configuration of the course (the course directory is this repository).

Instructors normally go through ``python -m helpers.grading`` (or ``make labs``,
``make autograde``, ``make feedback``, ``make grades``), which loads this file; the plain
``nbgrader`` command line run from the repository root reads it too.

- Source (instructor) notebooks: ``solutions/<chapter>/<chapter>_lab.ipynb``.
- Released (student) notebooks: ``labs/<chapter>/<chapter>_lab.ipynb``, committed.
- Assignment id = chapter name, e.g. ``generalization``.
- Working state, all gitignored: ``gradebook.db``, ``submitted/``, ``autograded/``,
  ``feedback/``, ``grades.csv``.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets when it loads this file)

# The course directory is the folder holding this file, wherever nbgrader is started from.
COURSE_ROOT = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = COURSE_ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "labs"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(COURSE_ROOT, "gradebook.db")

# Release: strip outputs, execution counts and volatile cell metadata (papermill and
# JupyterLab timings, collapsed/scrolled state) so that regenerating labs/ gives no diff.
c.ClearOutput.remove_metadata_fields = {
    "collapsed", "scrolled", "execution", "ExecuteTime", "papermill",
}

# Autograde: every cell gets at most this many seconds; on timeout the kernel is
# interrupted (KeyboardInterrupt in the student's code), the cell is recorded as an
# error and grading carries on with the next cell, so an infinite loop costs that cell
# only. Override per run: python -m helpers.grading autograde DIR --timeout 120
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120  # kernel start (imports torch) on a loaded machine

# A student who deletes a test cell gets it back (and its points are still at stake);
# edited test cells are always replaced by the instructor's version.
c.OverwriteCells.add_missing_cells = True
