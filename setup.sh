#!/usr/bin/env bash
# Installs the pinned requirements.
#   On Gradescope (run as root from /autograder/source): into the system python3,
#   and creates the unprivileged user that student code runs as.
#   Locally: into .venv/ beside this script; quick no-op when already up to date.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/requirements.txt"
SANDBOX_USER="${AUTOGRADER_SANDBOX_USER:-student}"

if [ "${GRADESCOPE:-}" = "1" ] || { [ "$(id -u)" = "0" ] && [ "$here" = "${AUTOGRADER_ROOT:-/autograder}/source" ]; }; then
    # Gradescope's Ubuntu 22.04 image: system python3 (3.10), run as root from $ROOT/source.
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
        || { echo "setup.sh: python3 3.10 or newer is needed (found $(python3 --version 2>&1))" >&2; exit 1; }
    apt-get update -qq >/dev/null 2>&1 || true
    python3 -m pip --version >/dev/null 2>&1 || apt-get install -y -qq python3-pip >/dev/null
    # CPU wheels of torch (no CUDA libraries: a much smaller image); plain PyPI if that index fails.
    python3 -m pip install --no-cache-dir -q --extra-index-url "${AUTOGRADER_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" -r "$req" \
        || python3 -m pip install --no-cache-dir -q -r "$req"
    python3 -c 'import numpy, h5py, yaml, pytest, torch, torchvision, scipy.ndimage' \
        || { echo "setup.sh: the pinned requirements did not install" >&2; exit 1; }
    id -u "$SANDBOX_USER" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$SANDBOX_USER"
    chown -R root:root "$here"
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
