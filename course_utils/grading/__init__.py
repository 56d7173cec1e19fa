"""Grading tools for instructors: verify nbgrader's grades outside the learner's kernel.

Rooms:
    spec      the instructor's verification specs (``grading/NN_topic.py`` at the course root)
    notebook  reading cells from an instructor source and a submission; integrity flags
    sandbox   running a learner's solution cells in a limited child process
    child     the code that runs inside that child (never imported by the grader)
    harness   models as test inputs and answers, as plain data both sides rebuild with torch.nn
    verify    re-grade submitted/ outside the learner's kernel and report disagreements
    collect   ``make collect``: a folder of hand-ins into nbgrader's submitted/ layout
    autograde ``make autograde``: nbgrader on every hand-in in N processes, one summary
    merge     gradebooks (and course folders graded on other machines) into one
    sanitize  the nbgrader preprocessor that restores hidden tests quietly

One command line for all of it: ``python -m course_utils.grading {autograde,verify,grades,collect,merge}``
(see ``__main__.py``); the Makefile's release/collect/autograde/verify/grades targets call it.

Nothing here is imported by ``import course_utils``.
"""
