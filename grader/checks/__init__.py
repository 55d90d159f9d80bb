"""The graded checks, one pytest module per question (``test_q<k>_<question>.py``), grader side.

Run only through ``grader.engine.plugin`` (``python -m grader grade``): each check function is
parametrized over the fixture cases of one graded function (``@cases.of``), calls the student's code
through the ``student`` fixture (``grader.sandbox.student.Student``: every call crosses into the
sandboxed worker) and decides its verdict here, from fixtures or the grader's own recomputation
(``grader.oracle``, optional: the student pre-check ships without it).  The rubric YAML names which
checks make which Gradescope test.
"""
