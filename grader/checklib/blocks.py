"""One bug, one deduction (DESIGN.md invariant 10): judge a function with correct building blocks.

A graded function that depends on another graded function (calls it, or is
checked against it) is first judged with the student's own code.  If that
fails and a function it depends on fails its own tests, it is judged again
with correct versions of exactly those functions standing in, and of what must
come with them (``closure``: a forward pass's backward pass, which takes its
cache; for a model, a wrong step's whole recurrent layer).  The student's other
passing functions are kept, so the run still tests the student's code.  If it
passes then, the student's code is right: the check passes, with a note naming
the function at fault.  The correct versions never run in the student's
process: the worker's stand-ins (grader/inworker/standins.py) ask the grader
over the call's channel, and the grader answers from grader/oracle/.

Whether a function "fails its own tests" is decided by running its own checks
(registered here with ``@own_test``) on every case this run has, once per run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from grader.checklib.compare import CheckFailure
from grader.engine import cases as cases_mod


@dataclass(frozen=True)
class OwnTest:
    fixture: str                          # the fixture function whose cases the check runs on
    check: Callable                       # check(student, case, *part) -> None, raises CheckFailure
    parts: tuple = ()                     # e.g. the gradient names of a backward's check
    test: str = ""                        # the rubric check name, to name its test in feedback


OWN_TESTS: dict[str, list[OwnTest]] = {}


def own_test(function: str, fixture: str | None = None, parts: tuple = (), test: str | None = None):
    """Register ``check`` as one of ``function``'s own tests (decorator)."""
    def deco(check):
        OWN_TESTS.setdefault(function, []).append(OwnTest(fixture or function, check, tuple(parts),
                                                          test or function))
        return check
    return deco


def passes_own_tests(student, function: str) -> bool:
    """Whether ``function`` passes every one of its own checks on every case of this run (memoized) that the
    test being graded may see: a visible test only the visible cases (the student's code runs here, in the
    visible tests' worker, and what a hidden case's inputs leave behind must never reach their feedback)."""
    hidden = student.in_hidden

    def run():
        tests = OWN_TESTS.get(function)
        if not tests:
            return True  # nothing to blame it on
        with student.quiet():
            for t in tests:
                for case in cases_mod.cases(t.fixture, student.fixtures):
                    if case.hidden and not hidden:
                        continue
                    for part in (t.parts or (None,)):
                        try:
                            t.check(student, case, *(() if part is None else (part,)))
                        except CheckFailure:
                            return False
        return True
    return student.once(("passes-own-tests", function, hidden), run)


def test_name(student, function: str) -> str:
    tests = OWN_TESTS.get(function) or []
    for t in tests:
        name = student.test_names.get(t.test)
        if name:
            return name
    return function


class Inseparable(CheckFailure):
    """A function could not be judged apart from a wrong building block: the block stands in, yet what the
    function reads still came from the student's block (an LSTM step's cache, built by the student's wrong
    forward pass, on every input tried).  Not "the fault is here": the feedback says to fix the block first."""


# What a run returns when, with stand-ins in place, it still judged the function by the student's own blocks
# alone (a backward pass as the derivative of the student's wrong forward pass): it has said so in its own
# note, and "passes with a correct ..." would not be true.
JUDGED_ON_ITS_OWN = object()


def known_to_fail(student, function: str) -> bool:
    """Whether this run has already found ``function`` failing its own tests (no check is run to find out)."""
    return student.recalled(("passes-own-tests", function, student.in_hidden)) == ("ok", False)


def judged(student, run: Callable, depends_on: tuple[str, ...], available: bool = True,
           closure: Callable | None = None, only_blocks: bool = False):
    """``run(standins)`` with ``standins`` = () (the student's own functions), then, if it fails, with the
    failing ones of ``depends_on`` replaced by correct versions (``closure(bad)``: what else must be
    replaced with them, e.g. a backward pass whose forward pass's cache becomes the grader's).
    ``only_blocks``: the run exercises no student code but ``depends_on`` (the style-transfer loop, the
    GAN training loop are the course's), so with all of them replaced it would test nothing of the
    student's and does not pass.  Returns ``run``'s result; raises the failure of the run that decides
    the verdict.  The verdict is "passes" if either run passes; when an earlier check of this run already
    found a block wrong, the run with correct blocks goes first (the run with the student's wrong block
    mostly fails, and an overfit run spends seconds failing)."""
    isolate = available and student.isolate_blocks
    # a building block that already hung on its own in this run would hang this run too, and spend this
    # check's whole limit first: go straight to the runs with correct blocks
    hung = [f for f in depends_on if isolate and student.sandbox.hung_alone(f)]
    known = tuple(f for f in depends_on if isolate and known_to_fail(student, f))
    if known and not (only_blocks and set(known) >= set(depends_on)):
        try:
            return _with_correct_blocks(student, run, known, closure, note_own_fails=False)
        except CheckFailure as with_blocks:
            if hung:
                raise
            try:
                return run(())
            except CheckFailure:
                pass
            # Blocks this run has not judged yet may be wrong too (Q2's model after Q1 found only the word
            # embedding wrong, in a file that does not import: probe round N): replace every one that fails
            bad = tuple(f for f in depends_on if not passes_own_tests(student, f))
            if set(bad) <= set(known) or (only_blocks and set(bad) >= set(depends_on)):
                raise with_blocks from None
            return _with_correct_blocks(student, run, bad, closure, note_own_fails=True)
    try:
        if hung:
            raise CheckFailure(f"not run with your {', '.join(hung)}: it did not return in time earlier in this run")
        return run(())
    except CheckFailure as own:
        if not isolate:
            raise
        bad = tuple(f for f in depends_on if not passes_own_tests(student, f))
        if not bad:
            raise
        if only_blocks and set(bad) >= set(depends_on):
            raise CheckFailure(f"{own} (every function this run uses is wrong: "
                               f"{', '.join(f'{f} (see {test_name(student, f)})' for f in bad)})") from None
        return _with_correct_blocks(student, run, bad, closure, note_own_fails=True)


def _with_correct_blocks(student, run, bad, closure, note_own_fails: bool):
    """``run`` with correct versions of ``bad`` (and ``closure(bad)``) standing in; the note or failure names
    them.  ``note_own_fails``: the run with the student's own blocks has failed (the note says so)."""
    names = ", ".join(bad)
    try:
        result = run(tuple(closure(bad)) if closure else bad)
    except Inseparable as again:
        raise CheckFailure(f"{again} (judged with what your {names} computed, which is wrong, see "
                           f"{', '.join(test_name(student, f) for f in bad)}: on no input tried does it compute "
                           f"the course's values, so this test could not be judged apart from it; fix {names} "
                           "first)") from None
    except CheckFailure as again:
        raise CheckFailure(f"{again} (this also fails with a correct {names}, so the fault is here; "
                           f"{names} is wrong as well, see {', '.join(test_name(student, f) for f in bad)})") \
            from None
    if result is JUDGED_ON_ITS_OWN:
        return None
    where = ", ".join(f"{f} (see {test_name(student, f)})" for f in bad)
    is_are = "is" if len(bad) == 1 else "are"
    student.note(f"passes with a correct {names}; fails with yours because {where} {is_are} wrong" if note_own_fails
                 else f"passes with a correct {names} standing in for yours, which {is_are} wrong: {where}")
    return result


def callbacks_for(oracle_module, standins) -> dict:
    """The channel requests a call may make: only those of the functions standing in (``PROVIDES`` of the
    oracle module: function -> request names; a stood-in backward pass also needs its forward pass's, and a
    stood-in step backward pass its sequence's forward pass's, for the steps of a sequence forward pass
    written without calling the step function).  The student's own functions can never ask the grader for
    anything else."""
    provides = getattr(oracle_module, "PROVIDES", {})
    names = set()
    for fn in standins:
        names |= set(provides.get(fn, (fn,)))
        if fn.endswith("_backward"):
            names |= set(provides.get(fn.replace("_backward", "_forward"), ()))
        if fn.endswith("_step_backward"):
            names |= set(provides.get(fn.split("_")[0] + "_forward", ()))
    return {n: cb for n, cb in oracle_module.CALLBACKS.items() if n in names}
