"""The search-space format and a space in memory: its parameters (``Param``) and sampling,
define-by-run, through the part of ``optuna.Trial`` it needs (``Suggester``).

Format (see ``search/spaces/copy.yaml``)::

    task: copy
    task_params: {min_length: 1, max_length: 20}
    params:
      controller: lstm                               # a plain value is fixed
      lr: {loguniform: [1.0e-4, 1.0e-2]}             # write floats with a dot: 1.0e-4
      controller_size: {int: [64, 128], step: 4}
      clip_value: {uniform: [1.0, 20.0]}
      curriculum: {choice: [none, plateau]}
      patience: {int: [2, 8], when: {curriculum: plateau}}       # conditional
      stages: {value: [[0, 5], [20000, 20]], when: {curriculum: staged}}
    start_points:                                    # optional: tried first (warm start)
      - {lr: 3.0e-3, curriculum: none}
    schedule: {grace_period: 20, report_sequences: 2048}   # optional: this task's pace

``schedule`` holds defaults of the search's own options (``SCHEDULE_KEYS``: how long a report
is, when ASHA first judges a trial and how its rungs are spaced, how long a trial may run) for
a task whose learning curve needs them: a breakthrough after tens of thousands of sequences
must not meet ASHA's first rung. An option given on the command line wins over it.

A parameter is a plain value or a mapping with exactly one of ``value``, ``choice``,
``int``, ``uniform``, ``loguniform`` (``[low, high]``, inclusive), an optional ``step``
(``int``, ``uniform``) and an optional ``when: {parent: value or [values]}``: the parameter
exists only when every parent, defined earlier in the file, has one of those values.
Curriculum parameters are checked against ``curricula.scheduler_param_names`` for every
curriculum under which they are active. A start point must lie inside its space: each of its
values one that its parameter can take (``Param.contains``: a listed value, or a number in
the range and on its step grid), for a parameter active at that point; Optuna would run one
outside with only a warning. Every error is one line naming the file and field.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

KINDS = ("value", "choice", "int", "uniform", "loguniform")
TOP_KEYS = ("task", "task_params", "params", "start_points", "schedule")
# The search options a space's ``schedule`` may set, with their types (SearchConfig's fields).
SCHEDULE_KEYS: dict[str, type] = {
    "report_sequences": int,
    "max_iterations": int,
    "grace_period": int,
    "curriculum_grace": int,
    "reduction_factor": float,
    "trial_seconds": float,
}
_GRID_TOLERANCE = 1e-8  # steps off the grid that still count as on it (float rounding; Optuna's)

__all__ = [
    "KINDS",
    "SCHEDULE_KEYS",
    "TOP_KEYS",
    "Param",
    "RandomSuggester",
    "SearchSpace",
    "SpaceError",
    "Suggester",
]


class SpaceError(ValueError):
    """A space file that cannot be used; the message is one line naming the file and field."""


class Suggester(Protocol):
    """The part of ``optuna.Trial`` a space needs (Ray's define-by-run captor provides it)."""

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...


class RandomSuggester:
    """Seeded random draws, a third of them at the bounds (used to validate spaces); a name in
    ``fixed`` gets its fixed value (a start point's)."""

    def __init__(self, seed: int, fixed: Mapping[str, Any] | None = None) -> None:
        self.rng = random.Random(seed)
        self.fixed = dict(fixed or {})

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self.fixed[name] if name in self.fixed else self.rng.choice(list(choices))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1) -> int:
        if name in self.fixed:
            return int(self.fixed[name])
        return self.rng.choice([low, high, low + step * self.rng.randint(0, (high - low) // step)])

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        if name in self.fixed:
            return float(self.fixed[name])
        if log:
            inner = math.exp(self.rng.uniform(math.log(low), math.log(high)))
        else:
            inner = self.rng.uniform(low, high)
        return self.rng.choice([low, high, inner])


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` in KINDS; ``values`` are the choices, ``(low, high)`` or ``(v,)``."""

    name: str
    kind: str
    values: tuple[Any, ...]
    step: float | None = None
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def possible(self) -> tuple[Any, ...] | None:
        """Every value it can take, for ``value``/``choice``; None for ranges."""
        return self.values if self.kind in ("value", "choice") else None

    def active(self, chosen: Mapping[str, Any]) -> bool:
        return all(p in chosen and chosen[p] in vals for p, vals in self.when.items())

    def draw(self, trial: Suggester) -> Any:
        if self.kind == "value":
            return self.values[0]
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.values))
        low, high = self.values
        if self.kind == "int":
            return trial.suggest_int(self.name, low, high, step=int(self.step or 1))
        return trial.suggest_float(
            self.name, float(low), float(high), step=self.step, log=self.kind == "loguniform"
        )

    def contains(self, value: Any) -> bool:
        """Whether the parameter can take ``value``: one of its values (a bool only where a
        bool is listed: ``1`` is not ``true``), or a number of its kind in ``[low, high]`` on
        its step grid ``low + k * step`` (as Optuna's distributions count containment)."""
        if self.kind in ("value", "choice"):
            return any(
                value == v and isinstance(value, bool) == isinstance(v, bool) for v in self.values
            )
        ok_type = isinstance(value, int) if self.kind == "int" else isinstance(value, int | float)
        low, high = self.values
        if not (ok_type and not isinstance(value, bool) and low <= value <= high):
            return False
        if self.step is None:
            return True
        k = (value - low) / self.step
        return abs(k - round(k)) < _GRID_TOLERANCE


@dataclass(frozen=True)
class SearchSpace:
    """A parsed space; calling it with an Optuna trial samples one config (define-by-run)."""

    task: str
    task_params: Mapping[str, Any]
    params: tuple[Param, ...]
    start_points: tuple[Mapping[str, Any], ...] = ()
    source: str = "<space>"
    schedule: Mapping[str, Any] = field(default_factory=dict)  # SCHEDULE_KEYS -> value

    def __call__(self, trial: Suggester) -> dict[str, Any]:
        return self.sample(trial)

    def sample(self, trial: Suggester) -> dict[str, Any]:
        """Draw the active parameters in file order (conditions see earlier values)."""
        chosen: dict[str, Any] = {}
        for param in self.params:
            if param.active(chosen):
                chosen[param.name] = param.draw(trial)
        return chosen

    def with_fixed(
        self, values: Mapping[str, Any], *, task_params: Mapping[str, Any] | None = None
    ) -> SearchSpace:
        """The same space with ``values`` fixed (unconditionally) and task params replaced."""
        params = [p for p in self.params if p.name not in values]
        fixed = [Param(name, "value", (v,)) for name, v in values.items()]
        points = tuple({k: v for k, v in p.items() if k not in values} for p in self.start_points)
        return dataclasses.replace(
            self,
            params=tuple(fixed + params),
            task_params=dict(self.task_params if task_params is None else task_params),
            start_points=tuple(p for p in points if p),
        )
