"""Grader code that runs INSIDE the worker, next to student code (one module per question).

These helpers build inputs (tensors, the seeded SqueezeNet, a CaptioningRNN),
call the student's functions in the course's calling conventions and send back
what they returned.  The student's process can read and alter all of it, so
nothing here is secret (no solution, no expected value, no fixture) and
nothing it returns is trusted: the grader checks every value itself.
"""
