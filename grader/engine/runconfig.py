"""One grading run's configuration, handed from ``engine.grade`` to the pytest plugin.

Written to a JSON file because pytest-xdist's worker processes read it too
(``--ag-run FILE``); a typed object on both sides.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from grader.engine.staging import StageReport


@dataclass
class RunConfig:
    stage: StageReport            # the staged submission
    rubric: str                   # path of the rubric YAML
    questions: list[str]          # question ids graded in this run
    fixtures: str                 # fixtures folder (visible.h5, hidden.h5 when present)
    deadline_epoch: float         # time.time() by which every check must be done
    outcomes: str                 # where the controlling process writes the check outcomes (JSON)
    user: str | None = None       # sandbox user (root only)
    threads: int = 1              # torch/BLAS threads in the worker
    torch_questions: list[str] = field(default_factory=list)  # questions whose checks run in the torch zygote
    preimport: list[str] = field(default_factory=list)  # modules the zygotes import before forking
    numpy_inworker: list[str] = field(default_factory=list)  # grader.inworker modules of each zygote
    torch_inworker: list[str] = field(default_factory=list)
    tf_questions: list[str] = field(default_factory=list)   # questions whose checks run in the TensorFlow zygote
    tf_inworker: list[str] = field(default_factory=list)
    tracks: dict = field(default_factory=dict)              # Q3/Q4: question -> "pytorch" | "tensorflow" in this run
    tf_unavailable: list[str] = field(default_factory=list)  # TensorFlow questions that cannot run: not installed
    rubric_tracks: list[str] = field(default_factory=lambda: ["pytorch"])

    def to_json(self) -> str:
        d = asdict(self)
        d["stage"] = json.loads(self.stage.to_json())
        return json.dumps(d, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        d = json.loads(text)
        d["stage"] = StageReport.from_json(json.dumps(d["stage"]))
        return cls(**d)
