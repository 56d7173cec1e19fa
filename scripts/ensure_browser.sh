#!/usr/bin/env bash
# Make sure the browser tests can run: Debian's chromium at /usr/bin/chromium and
# Playwright for Python in the course environment. Playwright drives the system
# chromium (executable_path), so `playwright install` (a browser download) is
# never needed. Safe to re-run: does nothing when both are present.
set -euo pipefail
VENV=${VENV:-.venv}
CHROMIUM=${COURSE_CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$CHROMIUM" ]; then
  echo "==> installing Debian's chromium (for the browser tests)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO="sudo -n"
    else
      echo "make: $CHROMIUM is missing and this user cannot install packages; run 'apt-get install chromium' as root." >&2
      exit 1
    fi
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
"$CHROMIUM" --version

if ! "$VENV/bin/python" -c "import playwright" >/dev/null 2>&1; then
  pin=$(grep -i '^playwright==' requirements/lock.txt || true)
  if [ -z "$pin" ]; then
    echo "make: requirements/lock.txt pins no playwright version." >&2
    exit 1
  fi
  echo "==> installing $pin into $VENV (no browser download: the tests use $CHROMIUM)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$pin"
fi
