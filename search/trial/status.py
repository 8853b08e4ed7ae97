"""The status vocabulary of a trial and its final status, decided in one place (the
trainable, tracking, the results table and export all use these names).

Each report of a trial carries ``status``: ``"running"`` while it trains, ``"completed"`` on
the last report of a trial that ran to its own end (its step or time limit, or solved), and
``"pruned_nan"`` on the single report sent when its loss or gradients became non-finite.

Example:
    >>> trial_status({"status": "running"}, errored=False)
    'stopped_asha'
    >>> trial_status({"status": "pruned_nan"}, errored=False)
    'pruned_nan'
    >>> trial_status(None, errored=True)
    'error'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RUNNING = "running"
COMPLETED = "completed"
STOPPED_ASHA = "stopped_asha"
PRUNED_NAN = "pruned_nan"
ERROR = "error"

FINAL_STATUSES: tuple[str, ...] = (COMPLETED, STOPPED_ASHA, PRUNED_NAN, ERROR)
# Ended normally, with finite weights and a final checkpoint: such trials can be ranked best.
ELIGIBLE: tuple[str, ...] = (COMPLETED, STOPPED_ASHA)

# The objective a NaN-pruned trial reports. Finite, so that ASHA's rung quantiles and
# Optuna's intermediate values stay well defined (NaN breaks both, +inf turns quantiles
# into inf/nan); far above any real value (bit errors per sequence are at most the output
# bits of one sequence: a few hundred for the shipped tasks), so it is never ranked best.
PRUNED_OBJECTIVE = 1.0e6

__all__ = [
    "COMPLETED",
    "ELIGIBLE",
    "ERROR",
    "FINAL_STATUSES",
    "PRUNED_NAN",
    "PRUNED_OBJECTIVE",
    "RUNNING",
    "STOPPED_ASHA",
    "trial_status",
]


def trial_status(last_result: Mapping[str, Any] | None, *, errored: bool) -> str:
    """One of ``completed``, ``stopped_asha``, ``pruned_nan``, ``error`` for a finished trial.

    1. ``errored`` (the trainable raised, or its worker died) -> ``error``.
    2. The last report said ``pruned_nan`` or ``completed`` -> that.
    3. Otherwise the trial ended while still ``running``, or before its first report: it was
       stopped from outside, by the ASHA scheduler or by the search's time budget ->
       ``stopped_asha``.
    """
    if errored:
        return ERROR
    status = (last_result or {}).get("status")
    if status == PRUNED_NAN:
        return PRUNED_NAN
    if status == COMPLETED:
        return COMPLETED
    return STOPPED_ASHA
