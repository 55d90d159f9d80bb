"""Fixture cases (inputs and expected outputs) from fixtures/*.h5, and how checks ask for them.

Layout of each HDF5 file: ``/<function>/<case>/{inputs,expected}/<name>``
datasets, and a JSON ``meta`` attribute on the case group with ``visibility``
("visible" or "hidden"), ``seed``, ``description`` and ``params`` (plain
JSON values such as ``word_to_idx`` or ``cell_type``).  ``visible.h5`` holds
the notebook's own cases; ``hidden.h5`` the others, and it is left out of the
student pre-check bundle.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import h5py
import numpy as np

import pytest

from grader.paths import FIXTURES

FILES = ("visible.h5", "hidden.h5")


@dataclass
class Case:
    function: str
    name: str
    visibility: str
    inputs: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    seed: int | None = None
    description: str = ""

    @property
    def hidden(self) -> bool:
        return self.visibility == "hidden"

    def __repr__(self):
        return f"Case({self.function}/{self.name})"


def _read_group(g) -> dict:
    out = {}
    for k, v in g.items():
        arr = v[()]
        out[k] = arr.item() if isinstance(arr, np.ndarray) and arr.ndim == 0 else (
            np.asarray(arr) if isinstance(arr, np.ndarray) else arr)
    return out


def _read_case(fn: str, cname: str, g) -> Case:
    meta = json.loads(g.attrs["meta"])
    return Case(fn, cname, meta["visibility"], _read_group(g["inputs"]), _read_group(g["expected"]),
                meta.get("params", {}), meta.get("seed"), meta.get("description", ""))


def _read(fixtures_dir: str, functions=None) -> dict[str, list[Case]]:
    """function -> its cases (all functions, or only ``functions``), visible first, by name."""
    by_fn: dict[str, list[Case]] = {}
    for fname in FILES:
        path = Path(fixtures_dir) / fname
        if not path.exists():
            continue
        with h5py.File(path, "r") as f:
            for fn in sorted(f) if functions is None else [fn for fn in functions if fn in f]:
                for cname in f[fn]:
                    by_fn.setdefault(fn, []).append(_read_case(fn, cname, f[fn][cname]))
    for found in by_fn.values():
        found.sort(key=lambda c: (c.hidden, c.name))
    return by_fn


@lru_cache(maxsize=None)
def _load_one(fixtures_dir: str, function: str) -> tuple:
    """One function's cases: a grading run reads only the functions its checks use."""
    return tuple(_read(fixtures_dir, [function]).get(function, []))


def cases(function: str, fixtures_dir: Path | str = FIXTURES) -> list[Case]:
    """Every case of ``function`` in ``fixtures_dir`` (visible first, then hidden; by name)."""
    return list(_load_one(str(fixtures_dir), function))


def load_all(fixtures_dir: Path | str) -> dict[str, list[Case]]:
    """function -> cases, read afresh (not cached): for comparing two folders."""
    return _read(str(fixtures_dir))


def of(function: str, where=None, **parts):
    """Mark a check to run once per fixture case of ``function`` (the run's fixtures folder).

    ``@of("rnn_step_backward", grad=("dx", "dh0"))`` parametrizes ``case`` and
    ``grad`` (ids ``<case>-<grad>``); ``where(case)`` filters.  Hidden case ids
    start with ``hidden``, which the rubric keys on.  The grading plugin
    expands the mark (``pytest_generate_tests``)."""
    return pytest.mark.cases(function, where=where, parts=parts)


def params(function: str, fixtures_dir, where=None, parts: dict | None = None) -> tuple[list[str], list]:
    """(argnames, pytest params) for ``of(...)``: one param per case, times each part value."""
    (name, values), = parts.items() if parts else ((None, None),)
    argnames = ["case"] + ([name] if name else [])
    out = []
    for c in cases(function, fixtures_dir):
        if where is not None and not where(c):
            continue
        if name:
            out += [pytest.param(c, v, id=f"{c.name}-{v}") for v in values]
        else:
            out.append(pytest.param(c, id=c.name))
    return argnames, out


def write_cases(path: Path, case_list: list[Case]) -> None:
    """Write cases deterministically (fixed order, no timestamps)."""
    with h5py.File(path, "w", track_order=False) as f:
        for c in sorted(case_list, key=lambda c: (c.function, c.name)):
            g = f.require_group(c.function).create_group(c.name)
            meta = {"visibility": c.visibility, "seed": c.seed, "description": c.description, "params": c.params}
            g.attrs["meta"] = json.dumps(meta, sort_keys=True)
            for sub, values in (("inputs", c.inputs), ("expected", c.expected)):
                sg = g.create_group(sub)
                for k in sorted(values):
                    sg.create_dataset(k, data=np.asarray(values[k]), track_times=False)
