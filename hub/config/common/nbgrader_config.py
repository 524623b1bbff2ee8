"""nbgrader settings every server of the hub reads (students' and the instructor's):
the course id and the exchange folder, set once here. The instructor's course folder
(the repository) adds its own nbgrader_config.py on top."""

import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("TAI_COURSE_ID", "trustworthy-ai")
c.Exchange.root = os.environ.get("TAI_EXCHANGE", "/srv/nbgrader/exchange")
