"""Command line: ``python -m grader <command> ...`` (see ``--help``)."""
from __future__ import annotations

import argparse
import os
import re
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}\nRun `{self.prog} --help` for the options.", file=sys.stderr)
        sys.exit(2)


def positive_int(text: str) -> int:
    """-j N: a whole number of parallel processes, at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes (1 or more), not {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 process, not {n}")
    return n


def question_list(text: str) -> str:
    """--questions Q1,Q2: comma-separated question ids (which ones exist is the rubric's say)."""
    ids = [q.strip() for q in text.split(",")]
    bad = [q for q in ids if not re.fullmatch(r"[Qq]\d+", q)]
    if not text.strip() or bad:
        raise argparse.ArgumentTypeError(f"expected question ids separated by commas, e.g. Q1,Q2, not {text!r}")
    return ",".join(q.upper() for q in ids)


class _Questions(argparse.Action):
    """--questions given more than once (--questions Q1 --questions Q2) means all of them, not the last."""

    def __call__(self, parser, namespace, values, option_string=None):
        ids = (getattr(namespace, self.dest) or "").split(",")
        ids += [q for q in values.split(",") if q not in ids]
        setattr(namespace, self.dest, ",".join(q for q in ids if q))


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m grader", description="Autograder for CS182 HW2 / CS231n assignment 3.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    g = sub.add_parser("grade", help="grade one submission (folder or .zip) into results.json")
    g.add_argument("submission", help="submission folder or .zip")
    g.add_argument("--results", default="results.json", help="where to write results.json (default: %(default)s)")
    g.add_argument("--rubric", default="cs182_hw2", help="rubric name (cs182_hw2, cs231n_a3) or path to a YAML file")
    g.add_argument("--questions", type=question_list, default=None, action=_Questions,
                   help="comma-separated questions to grade, e.g. Q1,Q2 (default: all)")
    g.add_argument("-j", "--jobs", type=positive_int, default=1, help="parallel check processes (default: 1)")
    g.add_argument("--user", default=None, help="run student code as this user (needs root; default: $AUTOGRADER_SANDBOX_USER)")
    g.add_argument("--quiet", action="store_true", help="do not print the table")
    g.add_argument("--fixtures", default=None, help=argparse.SUPPRESS)  # developers: grade against another fixtures folder

    c = sub.add_parser("check", help="students: run the visible checks on your own assignment folder")
    c.add_argument("submission", nargs="?", default=".", help="your assignment folder (default: current folder)")
    c.add_argument("--rubric", default="cs182_hw2")
    c.add_argument("--questions", type=question_list, default=None, action=_Questions,
                   help="e.g. Q1,Q2 (default: all)")
    c.add_argument("--results", default=None, help="also write results.json here")
    c.add_argument("--quiet", action="store_true", help="do not print the table (with --results)")

    t = sub.add_parser("template", help="regenerate student_template/ from reference/")
    t.add_argument("--check", action="store_true", help="exit 1 if the committed template differs")
    f = sub.add_parser("fixtures", help="regenerate fixtures/ from reference/")
    f.add_argument("--check", action="store_true", help="exit 1 if the committed fixtures differ")
    f.add_argument("--out", default=None, help="write to this folder instead of fixtures/ (developers)")

    ex = sub.add_parser("examples", help="regenerate examples/buggy_submission from reference/ and the mutant catalogue")
    ex.add_argument("--check", action="store_true", help="exit 1 if the committed example differs")

    b = sub.add_parser("bundle", help="build dist/autograder.zip (gradescope) or dist/precheck.zip (precheck)")
    b.add_argument("kind", choices=["gradescope", "precheck"])
    b.add_argument("--out", default=None, help="output zip path")

    bt = sub.add_parser("batch", help="regrade a Gradescope export")
    bt.add_argument("export", help="the folder or .zip from Gradescope's Assignment → Review Grades → Export "
                                   "Submissions (submission_metadata.yml and submission_<id>/ folders)")
    bt.add_argument("-j", "--jobs", type=positive_int, default=None,
                    help="submissions graded at once on this machine (default: 1)")
    bt.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="grade on Dask workers instead: the scheduler's address, e.g. tcp://HOST:8786")
    bt.add_argument("--out", default=None,
                    help="output folder: new, empty, or a previous batch's (default: EXPORT_regrade next to the "
                         "export, e.g. assignment_123_export_regrade/)")
    bt.add_argument("--no-metadata", action="store_true",
                    help="grade every sub-folder of an export folder without submission_metadata.yml (no names)")
    bt.add_argument("--diff", default=None, metavar="PREVIOUS", help="an earlier scores.csv to compare with")
    bt.add_argument("--resume", action="store_true",
                    help="continue the batch in --out: skip submissions already graded by this grader version and "
                         "rubric")
    bt.add_argument("--rubric", default="cs182_hw2")
    bt.add_argument("--timeout", type=float, default=None,
                    help="seconds per submission (default: the rubric's time budget + 120)")
    bt.add_argument("--fixtures", default=None, help=argparse.SUPPRESS)

    m = sub.add_parser("mutants", help="check that every catalogued student bug is caught")
    m.add_argument("--rubric", default="cs231n_a3")
    m.add_argument("--only", default=None, help="comma-separated mutant names or question prefixes (e.g. Q1,Q4)")
    m.add_argument("-j", "--jobs", type=positive_int, default=2)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.command is None:
        ap.print_help()
        return 2
    if args.command == "template":
        from grader.tools import template
        return template.main(args)
    if args.command == "fixtures":
        from grader import fixturegen
        return fixturegen.main(args)
    if getattr(args, "rubric", None) is not None and args.command in ("grade", "check", "batch", "mutants"):
        problem = rubric_problem(args.rubric)
        if problem:
            print(f"python -m grader {args.command}: --rubric {args.rubric}: {problem}", file=sys.stderr)
            return 2
    if args.command in ("grade", "check"):
        try:
            from grader.engine import grade as run
        except ModuleNotFoundError as exc:  # a student's Python without numpy, pyyaml, h5py or pytest
            print(f"python -m grader {args.command}: the Python package {exc.name!r} is missing from this Python "
                  f"({sys.executable}); install it, e.g. `{sys.executable} -m pip install "
                  f"{'pyyaml' if exc.name == 'yaml' else exc.name}`", file=sys.stderr)
            return 2
        return run.main(args)
    if args.command == "examples":
        from grader.tools import examples
        return examples.main(args)
    if args.command == "bundle":
        from grader.tools import bundle
        return bundle.main(args)
    if args.command == "batch":
        from grader.tools import batch
        return batch.main(args)
    if args.command == "mutants":
        from grader.tools import mutants
        return mutants.main(args)
    ap.error(f"unknown command {args.command}")
    return 2


def rubric_problem(value: str) -> str | None:
    """Why ``--rubric value`` is not a rubric (None when it is one, or when this Python cannot tell)."""
    try:
        from grader.engine import rubric as rubric_mod
    except ImportError:  # the command itself says what is missing
        return None
    try:
        rubric_mod.load(value)
    except rubric_mod.RubricError as exc:
        if os.path.isfile(value):  # a file, but not a rubric: say what one is
            return f"{exc} (not a rubric: {_rubric_is(rubric_mod)})"
        return str(exc)
    except Exception as exc:  # a YAML file that is not a rubric at all (a list, a string...)
        return f"not a rubric ({type(exc).__name__}: {exc}); {_rubric_is(rubric_mod)}"
    return None


def _rubric_is(rubric_mod) -> str:
    return ("a rubric is a YAML mapping with name, total and questions, like grader/rubrics/cs182_hw2.yaml; or "
            f"pass a rubric's name: {', '.join(rubric_mod.available())}")
