#!/usr/bin/env bash
# Installs the pinned requirements.
#   On Gradescope (run as root from /autograder/source): into the system python3,
#   and creates the unprivileged user that student code runs as.
#   Locally: into .venv/ beside this script, with requirements-dev.txt (staff tools, the project's tests);
#   quick no-op when already up to date.
# TensorFlow (requirements-tensorflow.txt, the TensorFlow track of Q3/Q4): on Gradescope only when the bundle
# holds that file (its rubric has `tracks: [pytorch, tensorflow]`); locally always (the project's tests grade
# TensorFlow submissions), unless AUTOGRADER_TENSORFLOW=0.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/requirements.txt"
tf_req="$here/requirements-tensorflow.txt"
dev_req="$here/requirements-dev.txt"  # staff tools and tests: local only
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
    if [ -f "$tf_req" ]; then  # this autograder's rubric grades Q3/Q4 in TensorFlow too
        python3 -m pip install --no-cache-dir -q -r "$tf_req"
        python3 -c 'import tensorflow' \
            || { echo "setup.sh: requirements-tensorflow.txt did not install" >&2; exit 1; }
    fi
    # bytecode now: run_autograder starts every interpreter with -B, so nothing would ever write it and each
    # run would compile the grader's modules again, in the grading process and in every zygote
    python3 -m compileall -q "$here/grader" >/dev/null
    id -u "$SANDBOX_USER" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$SANDBOX_USER"
    chown -R root:root "$here"
    chmod -R go-rwx "$here"
    exit 0
fi

venv="$here/.venv"
stamp="$venv/.requirements.sha256"
reqs=("$req")
[ -f "$dev_req" ] && reqs+=("$dev_req")
if [ "${AUTOGRADER_TENSORFLOW:-1}" != "0" ] && [ -f "$tf_req" ]; then
    reqs+=("$tf_req")
fi
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || { echo "setup.sh: Python 3.10 or newer is needed (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.10+" >&2; exit 1; }
[ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
args=()
for r in "${reqs[@]}"; do args+=(-r "$r"); done
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}"
echo "$want" > "$stamp"
echo "setup.sh: environment ready in $venv"
