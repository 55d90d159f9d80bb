"""Graded checks (pytest modules), run by grader.engine.plugin; one module per question."""
