# The course's commands. Every target bootstraps .venv from requirements/lock.txt
# when it is missing or out of date, so a fresh clone needs nothing else.
#   make lab        JupyterLab on your own copy of the notebooks, my-notebooks/ (LAB_ARGS=--no-browser on a headless machine)
#   make lab-instructor  JupyterLab on the course root with nbgrader's instructor tools (Formgrader, Create Assignment)
#   make student-repo DEST=path  a learner-facing copy of the course: no solutions, grading specs or hidden tests
#   make test       the whole test suite (unit, notebooks in smoke mode, grading, site in Chromium)
#   make release    student notebooks from solutions/ (CHAPTER=01_convolution for one)
#   make autograde  grade submitted/ with nbgrader (JOBS=N processes), export grades.csv, then verify
#   make collect    SUBMISSIONS=dir: hand-ins into submitted/<student>/<chapter>/
#   make verify     re-grade submitted/ outside the learner's kernel (verified_grades.csv)
#   make feedback   HTML feedback in feedback/ (no hidden tests)
#   make grades     grades.csv with verified and nbgrader grades
#   make bench      benchmark tables
#   make book       the course site from the chapters run in smoke mode (FULL=1: full mode; SOLUTIONS=omit: no solutions)
#   make doctor     what the course finds on this machine

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_ARGS ?=
CHAPTER ?=
PYTEST_ARGS ?=
AUTOGRADE_ARGS ?=
export VENV PYTHON

CHAPTERS := $(if $(CHAPTER),$(CHAPTER),$(notdir $(wildcard solutions/[0-9][0-9]_*)))

.PHONY: env lab lab-instructor student-repo test release autograde collect verify feedback grades bench doctor clean-env book

env: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml scripts/bootstrap.sh
	@scripts/bootstrap.sh

# Learners work in their own copy of notebooks/ (MY_NOTEBOOKS, ignored by git): made on the
# first run, completed with new chapters later, never overwritten; nbgrader's instructor
# tools are hidden (lab-config/learner). scripts/lab.py says what it copied.
MY_NOTEBOOKS ?= my-notebooks
lab: $(STAMP)
	@$(PY) scripts/lab.py --work "$(MY_NOTEBOOKS)" $(LAB_ARGS)

lab-instructor: $(STAMP)
	@$(PY) scripts/lab.py --instructor $(LAB_ARGS)

# A learner-facing copy of the course in DEST (empty, or an earlier export whose .git is kept):
# notebooks/, course_utils/ without grading, the learner's README and Makefile, the environment;
# no solutions/, grading/, tests or hidden tests. See scripts/student_repo.py.
DEST ?=
student-repo:
	@test -n "$(DEST)" || { echo "make: say where to write the learner's copy: make student-repo DEST=path/to/folder"; exit 1; }
	@$(PYTHON) scripts/student_repo.py "$(DEST)"

test: $(STAMP)
	@scripts/ensure_browser.sh
	$(PY) scripts/run_tests.py $(PYTEST_ARGS)

# nbgrader runs the `alembic` command (from PATH) when it opens gradebook.db, so
# the environment's bin/ goes first on PATH even when .venv is not activated.
NBGRADER := PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/nbgrader

# Student notebooks: nbgrader copies solutions/<chapter>/ to notebooks/<chapter>/
# with solutions replaced by stubs, hidden tests removed and outputs cleared, and
# records the chapter's tests and points in gradebook.db (needed by autograde).
# One nbgrader run for every chapter (a glob), or CHAPTER=01_convolution for one.
# First, scripts/colab_links.py writes the address and ref of pyproject.toml [tool.course]
# into the chapters' Colab badges and install lines (solutions/, notebooks/, and the
# site's notebooks in jupyter-book/ when no CHAPTER is given).
COURSE_SCRIPTS := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))/scripts
CHAPTER_GLOB := $(if $(CHAPTER),$(CHAPTER),[0-9][0-9]_*)
release: $(STAMP)
	@test -n "$(CHAPTERS)" || { echo "make: no chapters found: expected solutions/NN_topic/NN_topic.ipynb."; exit 1; }
	@for ch in $(CHAPTERS); do \
	  test -f "solutions/$$ch/$$ch.ipynb" || { echo "make: solutions/$$ch/$$ch.ipynb not found (a chapter's notebook is named after its folder)."; exit 1; }; \
	done
	@$(PY) $(COURSE_SCRIPTS)/colab_links.py --root . $(foreach ch,$(CHAPTER),--chapter $(ch))
	@echo "==> nbgrader generate_assignment $(CHAPTERS) -> notebooks/"
	@$(NBGRADER) generate_assignment "$(CHAPTER_GLOB)" --force --log-level=WARN

# Grade submitted/<student>/<chapter>/<chapter>.ipynb (every chapter, or CHAPTER=...) with
# nbgrader in JOBS processes (students split between them, each in its own copy of the
# gradebook, merged back), always in smoke mode; export nbgrader's grades to grades.csv;
# then verify (JOBS children at once). One summary names every hand-in nbgrader could not
# grade or had to repair.
# Fails only when grading itself could not be done (no gradebook, no hand-in, nbgrader
# stopped as a whole), never because of one broken hand-in. nbgrader's log: autograde.log.
JOBS ?= 1
autograde: $(STAMP)
	@$(PY) -m course_utils.grading autograde . --jobs $(JOBS) $(foreach ch,$(CHAPTER),--chapter $(ch)) --nbgrader="$(AUTOGRADE_ARGS)"

# The course site (Jupyter Book) in jupyter-book/_build/<smoke|full>/_build/html.
# Chapters execute through jupyter-cache (an unchanged chapter is not re-run) in
# smoke mode, or in full mode with FULL=1 (a GPU machine); -W -n: warnings fail.
# MathJax and the widget embedder are vendored from npm first (once, by the script).
FULL ?=
SOLUTIONS ?= hide
book: $(STAMP)
	$(PY) scripts/build_book.py $(if $(filter-out 0,$(FULL)),--full,) --solutions $(SOLUTIONS)

# Hand-ins as received (SUBMISSIONS=dir of <student>_<chapter>.ipynb or <student>/<chapter>.ipynb)
# into nbgrader's submitted/<student>/<chapter>/<chapter>.ipynb; misnamed files are listed, nothing is copied then.
SUBMISSIONS ?=
collect: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "make: say where the hand-ins are: make collect SUBMISSIONS=path/to/folder"; exit 1; }
	$(PY) -m course_utils.grading collect "$(SUBMISSIONS)" . $(if $(CHAPTER),--chapter $(CHAPTER),)

# Re-grade submitted/ outside the learner's kernel (grading/<chapter>.py specs) and report
# every disagreement with nbgrader; writes verified_grades.csv and verification.json.
VERIFY_ARGS ?=
verify: $(STAMP)
	$(PY) -m course_utils.grading verify . --jobs $(JOBS) $(foreach ch,$(CHAPTER),--chapter $(ch)) $(VERIFY_ARGS)

# HTML feedback for every autograded submission in feedback/ (hidden tests are never shown).
feedback: $(STAMP)
	@test -d autograded || { echo "make: no autograded/ folder: run make autograde first."; exit 1; }
	$(NBGRADER) generate_feedback "$(CHAPTER_GLOB)" --force --log-level=WARN

# grades.csv: one row per student and chapter with the verified grade (final) and nbgrader's.
# Taken from the last verification (verification.json, written by make autograde / make verify): nothing is re-run.
grades: $(STAMP)
	$(PY) -m course_utils.grading grades . --csv grades.csv $(foreach ch,$(CHAPTER),--chapter $(ch))

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "==> $$script"; $(PY) "$$script" || exit 1; done

doctor: $(STAMP)
	$(PY) -m course_utils doctor

clean-env:
	rm -rf $(VENV)
