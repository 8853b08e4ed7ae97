"""Which finished trial is best: the one ranking, used by the printed results table and its
CSV, by MLflow's ``best_trial_id`` tag and by the export.

``rank_key`` orders trials best first:

1. status: ``completed`` and ``stopped_asha`` trials (``status.ELIGIBLE``), then
   ``pruned_nan``, then ``error`` (a diverged trial is never best, whatever it scored);
2. the highest curriculum level reached (``max_level_reached``);
3. the last ``objective`` (the trainer's objective at the target difficulty, lower first:
   it is what the trial's final checkpoint scores);
4. the last ``eval_loss`` (cost in bits per sequence: among trials that all reach 0 bit
   errors, the most confident one first);
5. the sequences seen (cheaper first), then the trial id (a total order: no ties).

With ``metric``/``mode`` the chosen reported metric replaces rules 2 and 3. A missing or
non-finite value ranks last.

Example:
    >>> a = rank_key("a", "completed", {"max_level_reached": 3, "objective": 0.5})
    >>> b = rank_key("b", "completed", {"max_level_reached": 3, "objective": 0.0})
    >>> c = rank_key("c", "pruned_nan", {"max_level_reached": 9, "objective": 0.0})
    >>> [k[-1] for k in sorted([a, b, c])]
    ['b', 'a', 'c']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ntm.errors import require
from search.trial.status import ELIGIBLE, ERROR, PRUNED_NAN

_INF = float("inf")
_STATUS_RANK = {**dict.fromkeys(ELIGIBLE, 0), PRUNED_NAN: 1, ERROR: 2}

__all__ = ["number", "rank_key"]


def number(metrics: Mapping[str, Any], key: str, default: float) -> float:
    """``metrics[key]`` as a float when it is a finite number, else ``default``."""
    value = metrics.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def rank_key(
    trial_id: str,
    status: str,
    metrics: Mapping[str, Any],
    *,
    metric: str | None = None,
    mode: str = "min",
) -> tuple[Any, ...]:
    """Sort key of one trial from its final status and last reported metrics; best first."""
    require(mode in ("min", "max"), f"mode must be 'min' or 'max', but got mode={mode!r}.")
    if metric is None:
        level = number(metrics, "max_level_reached", number(metrics, "level", 0.0))
        head: tuple[float, ...] = (-level, number(metrics, "objective", _INF))
    else:
        sign = 1.0 if mode == "min" else -1.0
        head = (sign * number(metrics, metric, sign * _INF),)
    tail = (number(metrics, "eval_loss", _INF), number(metrics, "sequences", _INF), trial_id)
    return (_STATUS_RANK.get(status, len(_STATUS_RANK)), *head, *tail)
