#!/usr/bin/env bash
# Create (or complete) the course's virtual environment from the pinned lock.
# Called by make when .venv is missing or the lock / pyproject changed; safe to re-run.
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
start=$(date +%s)

# The pinned lock installs on Python 3.11-3.13 (every pinned wheel exists for cp311, cp312
# and cp313; numpy 2.4 and contourpy 1.3.3 have none for 3.10).
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "make: $PYTHON was not found; install Python 3.11, 3.12 or 3.13, or run make PYTHON=/path/to/python3.12." >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)'; then
  echo "make: $("$PYTHON" --version 2>&1) is not supported; the course's pinned environment needs Python 3.11, 3.12 or 3.13 (run make PYTHON=python3.12)." >&2
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
# The notebooks ask for the kernel "python3" (the name Colab, nbgrader and every Jupyter
# know); inside this environment that name is this environment's Python, so `make lab`
# opens every chapter without asking for a kernel. The kernel "cnn-course" of earlier
# versions of the course is removed: it was the same Python under a second name.
echo "==> registering this environment's Python as its Jupyter kernel 'python3'"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
rm -rf "$VENV/share/jupyter/kernels/cnn-course"
echo $(( $(date +%s) - start )) > "$VENV/.bootstrap-seconds"
touch "$VENV/.installed"
echo "==> environment ready in $(( $(date +%s) - start )) s"
