"""The curriculum protocol: metrics in, a level ``Decision`` out, state saved and restored.

A scheduler owns one integer difficulty *level* between ``start_level`` and
``target_level``. The trainer drives it with three calls (Ray Tune's scheduler protocol,
with ``state_dict``/``load_state_dict`` in the role of ``save``/``restore``):

1. ``next_level(rng)`` before each batch: the level to sample that batch at. Random
   schedulers draw from the trainer's ``random.Random`` (which the trainer checkpoints);
   the others return ``level`` and leave ``rng`` untouched.
2. ``record_batch(level, loss)`` after each batch (loss in bits per sequence); only
   learning progress uses it.
3. ``observe(step, metrics)`` at each report, with ``metrics`` holding ``"loss"`` (bits per
   sequence), ``"bit_errors"`` (per sequence) and ``"sequences"`` (seen so far); returns a
   ``Decision``.

Everything the future decisions depend on is in ``state_dict()``, which holds only JSON
types (str, int, float, bool, list, dict, None; never NaN or inf).
"""

from __future__ import annotations

import abc
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from curricula._checks import check_int, check_levels


@dataclass(frozen=True)
class Decision:
    """What a report decided: the ``level`` from now on, whether it ``raised`` it, and why."""

    level: int
    raised: bool
    reason: str


@dataclass(frozen=True)
class CurriculumConfig:
    """Which curriculum to run and its parameters; built once at the entry point.

    ``name`` is a key of ``curricula.SCHEDULERS`` (checked by ``make_scheduler``, which
    also rejects unknown keys in ``params``). ``params`` is copied, so later changes to
    the caller's dict do not leak in.
    """

    name: str = "none"
    start_level: int = 1
    target_level: int = 20
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, but got name={self.name!r}.")
        check_levels(self.start_level, self.target_level)
        if not isinstance(self.params, Mapping):
            raise ValueError(f"params must be a mapping, but got params={self.params!r}.")
        object.__setattr__(self, "params", dict(self.params))


class Scheduler(abc.ABC):
    """Base of all curricula; subclasses implement ``observe`` and their extra state.

    ``history`` lists ``(step, level)`` for every change of level made by ``observe``.
    ``nonfinite_reports`` counts reports whose metrics were NaN or inf (each scheduler's
    docstring says what such a report does).
    """

    name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, start_level: int = 1, target_level: int = 20) -> None:
        self._start_level, self._target_level = check_levels(start_level, target_level)
        self._level = self._start_level
        self._history: list[tuple[int, int]] = []
        self._nonfinite_reports = 0

    @property
    def level(self) -> int:
        """The current level, in ``[start_level, target_level]``."""
        return self._level

    @property
    def start_level(self) -> int:
        return self._start_level

    @property
    def target_level(self) -> int:
        return self._target_level

    @property
    def at_target(self) -> bool:
        return self._level == self._target_level

    @property
    def history(self) -> list[tuple[int, int]]:
        """``(step, level)`` for every change of level, oldest first (a copy)."""
        return list(self._history)

    @property
    def nonfinite_reports(self) -> int:
        return self._nonfinite_reports

    def next_level(self, rng: random.Random) -> int:
        """The level for the next training batch; the default is ``level``, drawing nothing."""
        del rng
        return self._level

    def record_batch(self, level: int, loss: float) -> None:  # noqa: B027 (optional hook)
        """Per-batch hook (``loss`` in bits per sequence); a no-op unless overridden."""

    @abc.abstractmethod
    def observe(self, step: int, metrics: Mapping[str, Any]) -> Decision:
        """Take one report and decide the level."""

    def state_dict(self) -> dict[str, Any]:
        """Everything future decisions depend on, as JSON types only."""
        return {
            "name": self.name,
            "start_level": self._start_level,
            "target_level": self._target_level,
            "level": self._level,
            "history": [[step, level] for step, level in self._history],
            "nonfinite_reports": self._nonfinite_reports,
            **self._extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from ``state_dict()`` output of a scheduler built from the same config."""
        for key in ("name", "start_level", "target_level"):
            expected = getattr(self, key)
            if state_value(state, key) != expected:
                raise ValueError(
                    f"state[{key!r}] must equal this scheduler's {key} ({expected!r}), "
                    f"but got {key}={state[key]!r}."
                )
        level = check_int("level", state_value(state, "level"), minimum=self._start_level)
        if level > self._target_level:
            raise ValueError(
                f"level must be in [{self._start_level}, {self._target_level}], "
                f"but got level={level}."
            )
        self._level = level
        self._history = [(int(step), int(lvl)) for step, lvl in state_value(state, "history")]
        self._nonfinite_reports = check_int(
            "nonfinite_reports", state_value(state, "nonfinite_reports"), minimum=0
        )
        self._load_extra_state(state)

    def _extra_state(self) -> dict[str, Any]:
        """Subclass state beyond the common keys (JSON types only)."""
        return {}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Restore what ``_extra_state`` saved."""

    def _hold(self, reason: str) -> Decision:
        return Decision(self._level, False, reason)

    def _move_to(self, step: int, level: int, reason: str) -> Decision:
        """Change the level (recorded in ``history``); ``raised`` if it went up."""
        old = self._level
        self._level = level
        self._history.append((step, level))
        return Decision(level, level > old, reason)


def state_value(state: Mapping[str, Any], key: str) -> Any:
    """``state[key]``, or a ``ValueError`` naming the missing key."""
    if key not in state:
        raise ValueError(f"state must contain {key!r}, but got keys {sorted(state)}.")
    return state[key]
