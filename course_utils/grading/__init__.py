"""Grading tools for instructors: verify nbgrader's grades outside the learner's kernel.

Rooms:
    spec      the instructor's verification specs (``grading/NN_topic.py`` at the course root)
    notebook  reading cells from an instructor source and a submission; integrity flags
    sandbox   running a learner's solution cells in a limited child process
    child     the code that runs inside that child (never imported by the grader)
    harness   models as test inputs and answers, as plain data both sides rebuild with torch.nn
    verify    ``python -m course_utils.verify``: re-grade submitted/ and report disagreements
    collect   ``make collect``: a folder of hand-ins into nbgrader's submitted/ layout

Nothing here is imported by ``import course_utils``.
"""
