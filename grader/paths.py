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

# Student-written files: staged name -> file names accepted in a submission (CS182's first).
STUDENT_FILES = {
    "rnn_layers.py": ("rnn_layers.py",),
    "classifiers/rnn.py": ("rnn.py",),
    "network_visualization.py": ("network_visualization.py", "net_visualization_pytorch.py"),
    "style_transfer.py": ("style_transfer.py", "style_transfer_pytorch.py"),
    "gan_pytorch.py": ("gan_pytorch.py",),
}
# The student files each question's checks import.
QUESTION_FILES = {
    "Q1": ("rnn_layers.py", "classifiers/rnn.py"),
    "Q2": ("rnn_layers.py", "classifiers/rnn.py"),
    "Q3": ("network_visualization.py",),
    "Q4": ("style_transfer.py",),
    "Q5": ("gan_pytorch.py",),
}
