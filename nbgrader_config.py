"""nbgrader settings for the course (read by every `nbgrader` command run from this folder).

The instructor source is solutions/NN_topic/NN_topic.ipynb; `make release` runs
`nbgrader generate_assignment` to write the student version to
notebooks/NN_topic/NN_topic.ipynb; `make autograde` grades
submitted/<student>/NN_topic/NN_topic.ipynb and writes grades.csv.

Run nbgrader from this folder (the Makefile does): gradebook.db, submitted/,
autograded/ and feedback/ are made here and are ignored by git.

Smoke mode: nbgrader passes its environment on to the kernels it starts, so
grading runs in smoke mode when COURSE_SMOKE=1 is set for the nbgrader command
(`make autograde` sets it). This file sets no environment variable itself,
because the Jupyter server's nbgrader extension reads it too, and the lab's
kernels must stay in full mode.
"""

import os

c = get_config()  # noqa: F821 -- get_config is provided by traitlets when it loads this file

# The course root is the folder of this file, wherever nbgrader is started from a
# copy of it (tests run the pipeline in a temporary copy); gradebook.db lives here.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# Instructor notebooks (solutions, hidden tests) are read from solutions/<chapter>/.
c.CourseDirectory.source_directory = "solutions"

# generate_assignment writes the student version to notebooks/<chapter>/, the
# folder learners open; it is committed and never edited by hand.
c.CourseDirectory.release_directory = "notebooks"

# Record an assignment in the gradebook the first time it is generated, so no
# `nbgrader db assignment add` is needed before `make release`.
c.GenerateAssignment.create_assignment = True

# Add a student to the gradebook the first time one of their submissions is
# graded, so no `nbgrader db student add` is needed before `make autograde`.
c.Autograde.create_student = True

# Seconds one cell may run while autograding before it is interrupted and
# counted as an error (nbgrader's default, 30 s, is too tight for a training cell
# on two CPU cores even in smoke mode; a whole chapter takes about a minute).
c.Execute.timeout = 120

# Seconds to wait for a kernel to start (importing torch on a cold, busy
# machine can take longer than the 60 s default).
c.Execute.startup_timeout = 120

# Grade every submission with the grader's own Python ("python3" is the kernel
# of the Python that runs nbgrader), whatever kernel name the learner's notebook
# carries (Colab, a conda environment, the course's `cnn-course` kernel).
c.Execute.kernel_name = "python3"

# --- Dependable grading (see README, "Instructors") ---------------------------

# A learner who deletes an autograder cell gets it back from the gradebook, so
# deleting a test never removes its points from the grade.
c.OverwriteCells.add_missing_cells = True

# nbgrader's own sanitising steps, with OverwriteCells replaced by the course's
# RestoreHiddenTests: an unchanged locked cell gets its hidden tests back without
# the "Attribute 'checksum' ... has changed!" warning nbgrader printed for every
# honest hand-in (an edited locked cell still prints it, and is still restored),
# and a hand-in with a copied graded cell is graded instead of crashing nbgrader.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "course_utils.grading.sanitize.RestoreHiddenTests",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# The kernels nbgrader starts log at ERROR level: ipykernel otherwise prints
# "Kernel is running over TCP without encryption" once per hand-in (the kernel
# listens on localhost only).
c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]

# Keep the autograded notebooks and the feedback small whatever a submission
# prints: at most this many lines per output, and a shortened traceback.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Warnings: nbgrader counts any stderr output of a test cell as a failure, so
# `make autograde` runs nbgrader with PYTHONWARNINGS=ignore (the kernels inherit
# it) and course_utils.checks records the warnings a learner's function raises
# instead of printing them; a correct answer never loses points for a warning.

# The final grade comes from `python -m course_utils.grading verify` (run by
# `make autograde` after nbgrader), which re-runs the solution cells outside the
# learner's kernel; nbgrader's own grades are kept beside it for comparison.

# Feedback: nbgrader renders the autograded notebook, hidden tests included;
# course_utils' preprocessor removes them (and tracebacks through them) first.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_utils.grading.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
