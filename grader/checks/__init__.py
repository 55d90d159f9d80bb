"""Graded checks (pytest modules), run by grader.plugin; one module per question."""
