#!/usr/bin/env bash
# Installs the pinned requirements.
#   On Gradescope (run as root from /autograder/source): into the system python3,
#   and creates the unprivileged user that student code runs as.
#   Locally: into .venv/ beside this script; quick no-op when already up to date.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/requirements.txt"
SANDBOX_USER="${AUTOGRADER_SANDBOX_USER:-student}"

if [ "${GRADESCOPE:-}" = "1" ] || { [ "$(id -u)" = "0" ] && [ "$here" = "/autograder/source" ]; }; then
    apt-get update -qq >/dev/null 2>&1 || true
    command -v pip3 >/dev/null 2>&1 || apt-get install -y -qq python3-pip >/dev/null
    python3 -m pip install --no-cache-dir -q -r "$req"
    id -u "$SANDBOX_USER" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$SANDBOX_USER"
    chmod -R go-rwx "$here"
    exit 0
fi

venv="$here/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || { echo "setup.sh: Python 3.10 or newer is needed (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.10+" >&2; exit 1; }
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "setup.sh: environment ready in $venv"
