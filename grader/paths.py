"""Where things are, in a checkout and in the unpacked Gradescope bundle."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
TEMPLATE = ROOT / "student_template"
FIXTURES = ROOT / "fixtures"
RUBRICS = ROOT / "grader" / "rubrics"
CHECKS = ROOT / "grader" / "checks"
PACKAGE = "deeplearning"

START_MARKER = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
END_MARKER = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
