#!/usr/bin/env bash
# Create (or complete) the course's virtual environment from the pinned lock.
# Called by make when .venv is missing or the lock / pyproject changed; safe to re-run.
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
start=$(date +%s)

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "make: $PYTHON was not found; install Python 3.10-3.12 or run make PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)'; then
  echo "make: $("$PYTHON" --version 2>&1) is not supported; the course needs Python 3.10-3.12 (run make PYTHON=python3.11)." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
echo "==> installing the pinned environment (requirements/lock.txt); the first time takes a few minutes"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off -r requirements/lock.txt
echo "==> installing course_utils (editable)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "==> registering the Jupyter kernel 'cnn-course'"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name cnn-course --display-name "Python (CNN course)" >/dev/null
echo $(( $(date +%s) - start )) > "$VENV/.bootstrap-seconds"
touch "$VENV/.installed"
echo "==> environment ready in $(( $(date +%s) - start )) s"
