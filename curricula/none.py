"""The null curriculum: train on the full range from the first batch (the baseline)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from curricula._checks import check_step
from curricula.base import Decision, Scheduler


class NoneScheduler(Scheduler):
    """No curriculum: the level is ``target_level`` from the start and never changes.

    1. ``level == target_level`` before and after every report; ``history`` stays empty.
    2. ``observe`` reads no metric, so NaN or inf metrics change nothing (the trainer
       stops on NaN itself) and ``nonfinite_reports`` stays 0.
    3. ``next_level(rng)`` returns ``target_level`` without drawing from ``rng``.

    Example:
        >>> sched = NoneScheduler(start_level=1, target_level=20)
        >>> sched.level, sched.observe(0, {"loss": float("nan")}).level, sched.at_target
        (20, 20, True)
    """

    name: ClassVar[str] = "none"
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, start_level: int = 1, target_level: int = 20) -> None:
        super().__init__(start_level=start_level, target_level=target_level)
        self._level = self._target_level

    def observe(self, step: int, metrics: Mapping[str, Any]) -> Decision:
        check_step(step)
        return self._hold(f"no curriculum: fixed at target_level={self._target_level}")
