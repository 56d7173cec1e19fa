# The course's commands. Every target bootstraps .venv from requirements/lock.txt
# when it is missing or out of date, so a fresh clone needs nothing else.
#   make lab        start JupyterLab on notebooks/ (LAB_ARGS=--no-browser on a headless machine)
#   make test       the whole test suite (unit, notebooks in smoke mode, grading)
#   make release    student notebooks from solutions/ (CHAPTER=01_convolution for one)
#   make autograde  grade submitted/ with nbgrader and export grades.csv
#   make bench      benchmark tables
#   make doctor     what the course finds on this machine

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_ARGS ?=
CHAPTER ?=
PYTEST_ARGS ?=
export VENV PYTHON

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
CHAPTERS := $(if $(CHAPTER),$(CHAPTER),$(notdir $(wildcard solutions/[0-9][0-9]_*)))

.PHONY: env lab test release autograde bench doctor clean-env

env: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml scripts/bootstrap.sh
	@scripts/bootstrap.sh

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(PY) scripts/run_tests.py $(PYTEST_ARGS)

release: $(STAMP)
	@for ch in $(CHAPTERS); do \
	  echo "==> nbgrader generate_assignment $$ch"; \
	  COURSE_SMOKE=1 $(VENV)/bin/nbgrader generate_assignment "$$ch" --force --log-level=WARN || exit 1; \
	done

autograde: $(STAMP)
	@test -d submitted || { echo "make: no submitted/ folder: put submissions in submitted/<student>/<chapter>/<chapter>.ipynb first."; exit 1; }
	@for ch in $(CHAPTERS); do \
	  echo "==> nbgrader autograde $$ch"; \
	  COURSE_SMOKE=1 $(VENV)/bin/nbgrader autograde "$$ch" --create --force --log-level=WARN || exit 1; \
	done
	COURSE_SMOKE=1 $(VENV)/bin/nbgrader export --to grades.csv --log-level=WARN
	@echo "==> grades written to grades.csv"

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "==> $$script"; $(PY) "$$script" || exit 1; done

doctor: $(STAMP)
	$(PY) -m course_utils doctor

clean-env:
	rm -rf $(VENV)
