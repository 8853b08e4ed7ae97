"""A search space in memory: its parameters (``Param``), sampling define-by-run and the
check that every sampled config builds (``SearchSpace.validate``). Parsing: ``search.space_parse``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from search.params import run_config_from_trial

SPACES_DIR = Path(__file__).resolve().parent / "spaces"
KINDS = ("value", "choice", "int", "uniform", "loguniform")
TOP_KEYS = ("task", "task_params", "params", "start_points")
_VALIDATION_SAMPLES = 64  # seeded random configs built and checked before any trial starts

__all__ = [
    "KINDS",
    "SPACES_DIR",
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
    """Seeded random draws, a third of them at the bounds (used to validate spaces)."""

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
        if self.kind in ("value", "choice"):
            return value in self.values
        ok_type = isinstance(value, int) if self.kind == "int" else isinstance(value, int | float)
        return ok_type and not isinstance(value, bool) and self.values[0] <= value <= self.values[1]


@dataclass(frozen=True)
class SearchSpace:
    """A validated space; calling it with an Optuna trial samples one config (define-by-run)."""

    task: str
    task_params: Mapping[str, Any]
    params: tuple[Param, ...]
    start_points: tuple[Mapping[str, Any], ...] = ()
    source: str = "<space>"

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

    def validate(self, fixed_keys: Mapping[str, Any]) -> None:
        """Build and check run configs drawn from the space (seeded) and every start point."""
        from curricula import make_scheduler
        from ntm.trainer import resolve

        draws = [
            (f"a config drawn from the space (draw {i})", RandomSuggester(i))
            for i in range(_VALIDATION_SAMPLES)
        ]
        draws += [
            (f"start_points[{i}]", RandomSuggester(i, p)) for i, p in enumerate(self.start_points)
        ]
        for what, suggester in draws:
            sample = self.sample(suggester)
            config = {
                **fixed_keys,
                **sample,
                "task": self.task,
                "task_params": dict(self.task_params),
            }
            try:
                resolved, _ = resolve(run_config_from_trial(config))
                make_scheduler(resolved.curriculum)
            except (ValueError, TypeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SpaceError(f"space {self.source}: {what} is invalid: {first}") from None
