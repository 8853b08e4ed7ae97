"""Which finished trial is best: the one ranking and the one filter around it, used by the
printed results table and its CSV (``search.launch.results``), MLflow's ``best_trial_id`` tag
and top-trial artifacts (``search.tracking.finish``), ``--confirm-top``
(``search.launch.confirm``) and the export (``search.exporter.candidates``).

The best trial is the first of ``best_key``'s order, the first trial that can be exported
(``exportable``: a status in ``status.ELIGIBLE`` and a checkpoint). ``best_key`` puts the
exportable trials first, then the others, each part in ``rank_key``'s order, so that the
results table's first row is the trial the export takes.

``rank_key`` orders trials best first:

1. status: ``completed`` and ``stopped_asha`` trials (``status.ELIGIBLE``), then trials
   cut by the search's end (``stopped_budget``, ``interrupted``: no final checkpoint of
   their own end), then ``pruned_nan``, then ``error`` (a diverged trial is never best,
   whatever it scored);
2. confirmed configurations (``--confirm-top``: ``confirm_mean_objective`` set) before the
   others, ranked by their mean objective over the fresh seeds, then the worst one
   (``confirm_worst_objective``), not by one possibly lucky run;
3. the others by the highest curriculum level reached (``max_level_reached``), then the last
   ``objective`` (the trainer's objective at the target difficulty, lower first:
   it is what the trial's final checkpoint scores);
4. the last ``eval_loss`` (cost in bits per sequence: among trials that all reach 0 bit
   errors, the most confident one first);
5. the sequences seen (cheaper first), then the trial id (a total order: no ties).

With ``metric``/``mode`` the chosen reported metric replaces rules 2 and 3.
A missing or non-finite value ranks last.

Example:
    >>> a = rank_key("a", "completed", {"max_level_reached": 3, "objective": 0.5})
    >>> b = rank_key("b", "completed", {"max_level_reached": 3, "objective": 0.0})
    >>> c = rank_key("c", "pruned_nan", {"max_level_reached": 9, "objective": 0.0})
    >>> d = rank_key("d", "completed", {"objective": 0.9, "confirm_mean_objective": 0.2})
    >>> [k[-1] for k in sorted([a, b, c, d])]
    ['d', 'b', 'a', 'c']
    >>> e = best_key("e", "completed", {"objective": 0.0}, checkpoint=None)
    >>> f = best_key("f", "completed", {"objective": 0.7}, checkpoint="/ckpt/f")
    >>> [k[-1] for k in sorted([e, f])], exportable("completed", None)
    (['f', 'e'], False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, get_args

from ntm.errors import require
from search.trial.status import CUT_STATUSES, ELIGIBLE, ERROR, PRUNED_NAN

Mode = Literal["min", "max"]  # with ``metric``: whether lower or higher is better
MODES: tuple[str, ...] = get_args(Mode)
_INF = float("inf")
_STATUS_RANK = {
    **dict.fromkeys(ELIGIBLE, 0),
    **dict.fromkeys(CUT_STATUSES, 1),
    PRUNED_NAN: 2,
    ERROR: 3,
}

__all__ = ["MODES", "Mode", "best_key", "exportable", "number", "rank_key"]


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
    require(mode in MODES, f"mode must be 'min' or 'max', but got mode={mode!r}.")
    confirmed = number(metrics, "confirm_mean_objective", math.nan)
    if metric is None and math.isfinite(confirmed):
        head: tuple[float, ...] = (0.0, confirmed, number(metrics, "confirm_worst_objective", _INF))
    elif metric is None:
        level = number(metrics, "max_level_reached", number(metrics, "level", 0.0))
        head = (1.0, -level, number(metrics, "objective", _INF))
    else:
        sign = 1.0 if mode == "min" else -1.0
        head = (sign * number(metrics, metric, sign * _INF),)
    tail = (number(metrics, "eval_loss", _INF), number(metrics, "sequences", _INF), trial_id)
    return (_STATUS_RANK.get(status, len(_STATUS_RANK)), *head, *tail)


def exportable(status: str, checkpoint: object) -> bool:
    """Whether a trial can be exported, and so be the best trial: it ended normally (a status
    in ``ELIGIBLE``: not diverged, errored, or cut by the search's end) and has a checkpoint
    (a non-empty path or URI; None, NaN or "" is none)."""
    return status in ELIGIBLE and isinstance(checkpoint, str) and bool(checkpoint)


def best_key(
    trial_id: str,
    status: str,
    metrics: Mapping[str, Any],
    *,
    checkpoint: object,
    metric: str | None = None,
    mode: str = "min",
) -> tuple[Any, ...]:
    """Sort key of one trial, best first: the exportable trials before the others, each in
    ``rank_key``'s order. The first trial of this order that is ``exportable`` is the best."""
    key = rank_key(trial_id, status, metrics, metric=metric, mode=mode)
    return (0 if exportable(status, checkpoint) else 1, *key)
