"""When a run counts as solved and when it stops: the one policy, applied by ``Trainer.run``
at every report and read by everyone else (the search's trainable, benchmarks).

A history entry is one report as a dict (``Report.to_dict()``): ``level``, ``step``,
``elapsed`` and, on evaluation reports, ``objective`` (the task's objective at the target
difficulty; lower is better). The rules, checked in this order after each report:

1. ``steps``: the step limit is reached (``TrainConfig.steps``; 0 = none).
2. ``time``: the training time is at or over ``TrainConfig.max_seconds`` (0 = none). It is
   checked at report boundaries, so the last report of a run is always known to be its last.
3. ``solved``: the last ``TrainConfig.solved_reports`` reports in a row were solved: at the
   target level with an objective under ``TrainConfig.stop_bit_errors`` (None = never).
   One lucky evaluation is not a solution: the search asks for several in a row.

A report without an objective (no evaluation) breaks a solved streak. (``lr_decay_on_solve``
has its own fixed threshold, ``ntm.tasks.SOLVED_BIT_ERRORS``: the first report at the
target level under it decays the rate, once.)

Example:
    >>> h = [{"level": 5, "step": 8, "elapsed": 1.0, "objective": 0.0}]
    >>> stop_reason(TrainConfig(steps=100, stop_bit_errors=0.01), h, target_level=5)
    'solved'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ntm.train_config import TrainConfig

STEPS, TIME, SOLVED = "steps", "time", "solved"

__all__ = ["SOLVED", "STEPS", "TIME", "is_solved", "solved_streak", "stop_reason"]


def is_solved(entry: Mapping[str, Any], *, target_level: int, below: float) -> bool:
    """The report was evaluated at the target level with an objective under ``below``."""
    objective = entry.get("objective")
    return objective is not None and entry["level"] >= target_level and objective < below


def solved_streak(history: Sequence[Mapping[str, Any]], *, target_level: int, below: float) -> int:
    """How many reports at the end of ``history`` are solved, in a row."""
    streak = 0
    for entry in reversed(history):
        if not is_solved(entry, target_level=target_level, below=below):
            break
        streak += 1
    return streak


def stop_reason(
    train: TrainConfig, history: Sequence[Mapping[str, Any]], *, target_level: int
) -> str | None:
    """``steps``, ``time``, ``solved`` (rules 1-3) or None: whether the last report ends the run."""
    last = history[-1]
    if train.steps > 0 and last["step"] >= train.steps:
        return STEPS
    if train.max_seconds > 0 and last["elapsed"] >= train.max_seconds:
        return TIME
    if train.stop_bit_errors is not None:
        streak = solved_streak(history, target_level=target_level, below=train.stop_bit_errors)
        if streak >= train.solved_reports:
            return SOLVED
    return None
