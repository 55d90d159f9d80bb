"""Shared set-up for the project's own tests.

The reference package is importable as ``deeplearning`` in the test process;
anything that needs another package of that name (the template, a submission)
runs in a subprocess through the real CLI.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
TEMPLATE = ROOT / "student_template"

if str(REFERENCE) not in sys.path:
    sys.path.insert(0, str(REFERENCE))
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
# Keep torch from spreading over both cores while xdist runs two test processes.
os.environ.setdefault("OMP_NUM_THREADS", "1")
