"""Take Q3-Q5 definitions from a student's notebook when the .py file is missing.

Filled in by the PyTorch questions' work; until then notebooks are only listed.
"""
from __future__ import annotations


def fill_from_notebooks(report, root, notebooks, pkg_dir) -> None:
    return None
