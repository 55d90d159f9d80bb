"""Rubrics: which checks make up which Gradescope test, for how many points.

A rubric YAML lists questions; each question names its checks module
(``grader/checks/test_<module>.py``; what the question needs, such as torch,
comes from its declaration in ``grader.questions``) and its tests.  A test selects checks by
the name of the check function (without ``test_``) and by the visibility of
the fixture case they run (``visible`` cases, ``hidden`` ones, or ``any``);
its points are split equally over the checks it selects, which gives partial
credit per gradient, per case.

``tracks`` (optional, default ``[pytorch]``): the frameworks Q3/Q4 may be written in.  With
``[pytorch, tensorflow]`` a student's TensorFlow files are graded by the same tests for the same points
(``grader.questions``: each question's ``tf_files``); the Gradescope bundle then installs TensorFlow
(``requirements-tensorflow.txt``).  ``extends: NAME`` (optional) starts from another rubric's YAML and
replaces its top-level keys by this file's (e.g. a rubric that only adds the TensorFlow track).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.paths import CHECKS, RUBRICS
from grader.questions import PYTORCH, TRACKS, by_check_module

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


class RubricError(ValueError):
    pass


@dataclass
class Entry:
    question: str
    number: str
    label: str
    points: float
    visibility: str
    timeout: float
    checks: list[str]
    cases: str  # visible | hidden | any
    description: str = ""

    @property
    def name(self) -> str:
        return f"{self.question}.{self.number.split('.', 1)[-1]} {self.label}"


@dataclass
class Question:
    id: str
    title: str
    points: float
    module: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def needs_torch(self) -> bool:
        spec = by_check_module(self.module)
        return bool(spec and spec.torch)

    @property
    def has_checks(self) -> bool:
        return (CHECKS / f"test_{self.module}.py").exists()


@dataclass
class Rubric:
    name: str
    title: str
    total: float
    questions: list[Question]
    time_budget_s: float
    path: str = ""
    isolate_building_blocks: bool = True  # one bug, one deduction (grader/checklib/blocks.py)
    tracks: tuple[str, ...] = (PYTORCH,)  # frameworks Q3/Q4 may be written in ("pytorch", "tensorflow")

    def entries(self):
        for q in self.questions:
            yield from q.entries

    def question(self, qid: str) -> Question:
        return next(q for q in self.questions if q.id == qid)

    def replace(self, questions: list[Question]) -> "Rubric":
        """The same rubric over other questions (a selection, or questions with fewer tests)."""
        return Rubric(self.name, self.title, self.total, questions, self.time_budget_s, self.path,
                      self.isolate_building_blocks, self.tracks)

    def without_hidden(self) -> "Rubric":
        """Only the visible tests (the student pre-check: hidden cases are not shipped)."""
        return self.replace([Question(q.id, q.title, q.points, q.module, [e for e in q.entries if e.cases != "hidden"])
                             for q in self.questions])

    def select(self, questions: list[str] | None) -> "Rubric":
        if not questions:
            return self
        wanted = {q.strip().upper() for q in questions if q.strip()}
        known = {q.id.upper() for q in self.questions}
        unknown = wanted - known
        if unknown:
            raise RubricError(f"unknown question(s) {', '.join(sorted(unknown))}; "
                              f"this rubric has {', '.join(q.id for q in self.questions)}")
        return self.replace([q for q in self.questions if q.id.upper() in wanted])


def available() -> list[str]:
    return sorted(p.stem for p in RUBRICS.glob("*.yaml"))


def load(name_or_path: str) -> Rubric:
    p = Path(name_or_path)
    if not (p.suffix in (".yaml", ".yml") and p.exists()):
        p = RUBRICS / f"{name_or_path}.yaml"
    if not p.exists():
        raise RubricError(f"no rubric named {name_or_path!r}; use one of {', '.join(available())} "
                          "or the path of a rubric .yaml file")
    try:
        d = _read(p)
    except yaml.YAMLError as exc:
        raise RubricError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(d, dict):
        raise RubricError(f"{p}: not a rubric (a YAML mapping with name, total and questions is expected)")
    try:
        return _parse(d, str(p))
    except KeyError as exc:
        raise RubricError(f"{p}: missing key {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise RubricError(f"{p}: {exc}") from None


# libyaml's safe loader where PyYAML was built with it (the same documents, ~10x faster: the pure-Python one
# took 0.14 s per load of a rubric, and a grade loads it three times)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(p: Path, depth: int = 0) -> dict:
    """The rubric's YAML, with ``extends: NAME`` resolved (the named rubric's keys, replaced by this file's)."""
    d = yaml.load(p.read_text(), Loader=_LOADER)
    if not isinstance(d, dict) or "extends" not in d:
        return d
    if depth > 4:
        raise RubricError(f"{p}: `extends` nests too deep")
    base_name = str(d["extends"])
    base = Path(base_name)
    if not (base.suffix in (".yaml", ".yml") and base.exists()):
        base = (p.parent / base_name) if (p.parent / base_name).suffix in (".yaml", ".yml") else RUBRICS / f"{base_name}.yaml"
    if not base.exists():
        raise RubricError(f"{p}: extends {base_name!r}, which is not a rubric (use one of {', '.join(available())})")
    merged = dict(_read(base, depth + 1) or {})
    merged.update({k: v for k, v in d.items() if k != "extends"})
    return merged


def _parse(d: dict, path: str) -> Rubric:
    defaults = d.get("defaults", {})
    questions = []
    for qd in d["questions"]:
        q = Question(qd["id"], qd["title"], float(qd["points"]), qd["module"])
        for ed in qd["tests"]:
            hidden = bool(ed.get("hidden", False))
            vis = ed.get("visibility", defaults.get("hidden_visibility", "after_due_date") if hidden
                         else defaults.get("visibility", "visible"))
            if vis not in VISIBILITIES:
                raise ValueError(f"{q.id} {ed.get('name')}: visibility must be one of {VISIBILITIES}")
            label = ed["name"] + (" (hidden cases)" if hidden else "")
            number = str(ed["number"]) + ("h" if hidden else "")
            checks = ed["checks"] if isinstance(ed["checks"], list) else [ed["checks"]]
            q.entries.append(Entry(q.id, number, label, float(ed["points"]), vis,
                                   float(ed.get("timeout", defaults.get("timeout", 20))), checks,
                                   ed.get("cases", "hidden" if hidden else "visible"), ed.get("description", "")))
        got = sum(e.points for e in q.entries)
        if abs(got - q.points) > 1e-9:
            raise ValueError(f"{q.id}: tests add up to {got:g} points, the question says {q.points:g}")
        questions.append(q)
    tracks = d.get("tracks", [PYTORCH])
    if not (isinstance(tracks, list) and tracks and all(t in TRACKS for t in tracks) and len(set(tracks)) == len(tracks)):
        raise ValueError(f"tracks must be a list of {', '.join(TRACKS)} (each once), got {tracks!r}")
    r = Rubric(d["name"], d.get("title", d["name"]), float(d["total"]), questions,
               float(d.get("time_budget_s", 600)), path, bool(d.get("isolate_building_blocks", True)),
               tuple(tracks))
    got = sum(q.points for q in questions)
    if abs(got - r.total) > 1e-9:
        raise ValueError(f"questions add up to {got:g} points, the rubric's total says {r.total:g}")
    names = [e.name for e in r.entries()]
    if len(set(names)) != len(names):
        raise ValueError("test names must be unique")
    return r
