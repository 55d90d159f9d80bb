#!/usr/bin/env python3
"""Run the autograder's visible checks on your assignment, before you submit.

    python precheck.py                   # the folder this file is in
    python precheck.py FOLDER_OR_ZIP     # another assignment folder, or your submission .zip
    python precheck.py --questions Q1,Q2
    python precheck.py --rubric cs231n_a3

Same checks, table and feedback as Gradescope for the visible tests; Gradescope
also runs hidden tests (the output says how many).  Needs Python 3.10+ with
numpy, h5py, pyyaml and pytest; torch and torchvision for the PyTorch
questions (skipped with a message when torch is missing).  Equivalent to
``python -m grader check`` run from this folder.
"""
import os
import sys

# Plain syntax on purpose: an old Python must get to the message below.
HERE = os.path.dirname(os.path.abspath(__file__))
NEEDED = (("numpy", "numpy"), ("h5py", "h5py"), ("yaml", "pyyaml"), ("pytest", "pytest"))


def main(argv):
    if sys.version_info < (3, 10):
        sys.stderr.write("precheck: Python 3.10 or newer is needed; this is Python %s (%s).\n"
                         "Run it with the Python you use for the assignment, e.g. python3.10 precheck.py\n"
                         % (sys.version.split()[0], sys.executable))
        return 2
    import importlib.util
    missing = [pip for mod, pip in NEEDED if importlib.util.find_spec(mod) is None]
    if missing:
        sys.stderr.write(
            "precheck: this Python (%s) lacks the package(s) %s that the checks need.\n"
            "Install them in the environment you use for the assignment, e.g.\n"
            "    %s -m pip install %s\n"
            "(torch and torchvision are needed only for the PyTorch questions.)\n"
            % (sys.executable, ", ".join(missing), sys.executable, " ".join(missing)))
        return 2
    if not os.path.isdir(os.path.join(HERE, "grader")):
        sys.stderr.write("precheck: the grader/ folder is missing next to precheck.py; unzip all of "
                         "precheck.zip into your assignment folder.\n")
        return 2
    sys.path.insert(0, HERE)
    from grader.cli import build_parser
    from grader.engine import grade as run
    args = build_parser().parse_args(["check"] + list(argv))
    if args.submission == "." and "." not in argv:
        args.submission = HERE  # the assignment folder this file was unpacked into, wherever it is run from
        parent = os.path.dirname(HERE)
        packages = ("deeplearning", "cs231n")
        if not any(os.path.isdir(os.path.join(HERE, p)) for p in packages) \
                and any(os.path.isdir(os.path.join(parent, p)) for p in packages):
            args.submission = parent  # unzipped into a sub-folder of the assignment folder
            print("precheck: checking %s (the folder above this one)" % parent)
    return run.main(args)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
