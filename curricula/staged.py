"""Fixed stages by sequences seen, e.g. the classic copy schedule 1-5, 1-10, 1-20."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from curricula._checks import check_int, check_step, read_metric
from curricula.base import Decision, Scheduler

# Copy lengths 1-5 from the start, 1-10 after 20k sequences, 1-20 after 50k.
CLASSIC_STAGES: tuple[tuple[int, int], ...] = ((0, 5), (20_000, 10), (50_000, 20))


class StagedScheduler(Scheduler):
    """Level as a step function of ``metrics["sequences"]``, the training sequences seen.

    1. ``stages`` is a list of ``[sequences_threshold, level]`` pairs: thresholds are ints
       >= 0 in strictly ascending order, levels are ints in ``[start_level,
       target_level]`` in non-decreasing order (default ``CLASSIC_STAGES``, which needs
       ``target_level >= 20``).
    2. Before any report the level is that of a stage with threshold 0, or ``start_level``
       when no stage starts at 0.
    3. At a report with ``sequences`` seen, the level becomes that of the last stage with
       ``threshold <= sequences``: the switch happens exactly at the threshold. Stages
       crossed between two reports give a single change, to the last of them. The level
       never goes down.
    4. A report whose ``sequences`` is NaN or +-inf is counted in
       ``state["nonfinite_reports"]`` and otherwise ignored. Loss and bit errors are not
       read, so their NaNs do not matter here.

    Example:
        >>> sched = StagedScheduler(stages=[[0, 5], [100, 10], [200, 20]])
        >>> [sched.observe(i, {"sequences": n}).level for i, n in enumerate([0, 99, 100, 250])]
        [5, 5, 10, 20]
    """

    name: ClassVar[str] = "staged"
    param_names: ClassVar[tuple[str, ...]] = ("stages",)

    def __init__(
        self,
        *,
        start_level: int = 1,
        target_level: int = 20,
        stages: Sequence[Sequence[int]] = CLASSIC_STAGES,
    ) -> None:
        super().__init__(start_level=start_level, target_level=target_level)
        self._stages = _check_stages(stages, self._start_level, self._target_level)
        first = self._stage_level(0.0)  # rule 2
        self._level = self._start_level if first is None else first

    @property
    def stages(self) -> tuple[tuple[int, int], ...]:
        return self._stages

    def observe(self, step: int, metrics: Mapping[str, Any]) -> Decision:
        step = check_step(step)
        sequences = read_metric(metrics, "sequences")
        if not math.isfinite(sequences):  # rule 4
            self._nonfinite_reports += 1
            return self._hold(f"non-finite metric ignored (sequences={sequences})")
        level = self._stage_level(sequences)  # rule 3
        if level is not None and level > self._level:
            return self._move_to(step, level, f"sequences={sequences:g}: stage at level {level}")
        return self._hold(f"sequences={sequences:g}: stay at level {self._level}")

    def _stage_level(self, sequences: float) -> int | None:
        """Level of the last stage with ``threshold <= sequences``; None before the first."""
        level = None
        for threshold, stage_level in self._stages:
            if threshold <= sequences:
                level = stage_level
        return level


def _check_stages(
    stages: object, start_level: int, target_level: int
) -> tuple[tuple[int, int], ...]:
    if isinstance(stages, str | bytes) or not isinstance(stages, Sequence) or not stages:
        raise ValueError(
            "stages must be a non-empty list of [sequences_threshold, level] pairs, "
            f"but got stages={stages!r}."
        )
    checked: list[tuple[int, int]] = []
    for index, pair in enumerate(stages):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(
                f"stages[{index}] must be a [sequences_threshold, level] pair, "
                f"but got stages[{index}]={pair!r}."
            )
        threshold = check_int(f"stages[{index}][0]", pair[0], minimum=0)
        level = check_int(f"stages[{index}][1]", pair[1], minimum=start_level)
        if level > target_level:
            raise ValueError(
                f"stages[{index}][1] (a level) must be in [{start_level}, {target_level}] "
                f"(start_level, target_level), but got stages[{index}][1]={level}."
            )
        if checked and threshold <= checked[-1][0]:
            raise ValueError(
                f"stages thresholds must be strictly ascending, but got "
                f"stages[{index}][0]={threshold} after {checked[-1][0]}."
            )
        if checked and level < checked[-1][1]:
            raise ValueError(
                f"stages levels must be non-decreasing, but got "
                f"stages[{index}][1]={level} after {checked[-1][1]}."
            )
        checked.append((threshold, level))
    return tuple(checked)
