"""nbgrader configuration of the course (the course directory is this repository).

Instructors normally go through ``python -m helpers.grading`` (or ``make labs``,
``make grade``, ``make feedback``, ``make grades``), which loads this file; the plain
``nbgrader`` command line run from the repository root reads it too (but do not use its
``autograde``: it runs student code unsandboxed).

- Source (instructor) notebooks: ``solutions/<chapter>/<chapter>_lab.ipynb``.
- Released (student) notebooks: ``labs/<chapter>/<chapter>_lab.ipynb``, committed.
- Assignment id = chapter name, e.g. ``generalization``.
- Working state, all gitignored: ``gradebook.db``, ``submitted/``, ``autograded/``,
  ``feedback/``, ``summary/``, ``grades.csv``, ``solutions_html/``.
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

# Autograde (python -m helpers.grading grade, helpers/grading/): every submission runs in
# a bubblewrap sandbox; each cell gets at most c.Execute.timeout seconds (the cell is
# stopped and counts as failed, grading goes on; a cell that ignores the stop kills its
# sandbox 10 s later and the rest of that notebook scores 0). Override per run with
# --timeout SECONDS.
c.Execute.timeout = 60

# Limits of one submission's sandbox (see helpers/grading/sandbox.py, Limits).
c.Sandbox.memory_mb = 4096     # address space; importing PyTorch alone maps ~1.5 GB
c.Sandbox.cpu_seconds = 900    # CPU time of the whole notebook
c.Sandbox.processes = 64       # processes and threads (a fork bomb stops here)
c.Sandbox.file_mb = 64         # largest file it may write
c.Sandbox.disk_mb = 256        # its working folder + /tmp (tmpfs, when grading as root)
c.Sandbox.output_kb = 256      # stdout/stderr kept for the instructor

# LMS zips (nbgrader's zip_collect convention): the student id and the notebook are
# read from each file name. This pattern accepts Canvas names
# (smithjane_12345_67890_generalization_lab.ipynb, also LATE and -1 resubmissions) and
# Moodle names (Jane Smith_12345_assignsubmission_file_generalization_lab.ipynb); adapt
# it to your LMS (groups: student_id, lms_id = the LMS's numeric user id, file_id, optional
# timestamp). Import a roster with the same lms_user_id (python -m helpers.grading roster
# students.csv) and submissions are filed under the roster's student ids.
c.FileNameCollectorPlugin.named_regexp = (
    r"^(?P<student_id>[^_/]+)_(?:LATE_)?(?P<lms_id>\d+)_(?:\d+_)*(?:assignsubmission_file_)?"
    r"(?P<file_id>[^/]+\.ipynb)$"
)

# Deadlines per lab (any timezone; "python -m helpers.grading solutions LAB" releases the
# model solutions as HTML only after it). A submission's time comes from its timestamp.txt
# (nbgrader's exchange writes one) or a `timestamp` group in the pattern above.
c.Course.deadlines = {
    # "generalization": "2027-01-29 23:59:00 Europe/Berlin",
}
# Late penalty: each started day late costs this % of the lab's points; after
# max_days_late days the lab scores 0 (grades.csv: raw_score, late_submission_penalty, score).
c.PercentPerDay.percent_per_day = 10.0
c.PercentPerDay.max_days_late = 7
