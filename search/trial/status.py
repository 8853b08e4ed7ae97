"""The status vocabulary of a trial and its final status, decided in one place (the
trainable, tracking, the results table and export all use these names).

Each report of a trial carries ``status``: ``"running"`` while it trains, ``"completed"`` on
the last report of a trial that ran to its own end (its step or time limit, or solved), and
``"pruned_nan"`` on the single report sent when its loss or gradients became non-finite.
A trial can also be cut from outside without any event of its own, when the whole search
stops (``search.trial.endings``): ``stopped_budget`` when its time budget ran out,
``interrupted`` on Ctrl-C or SIGTERM (``--resume`` continues such a trial).

Example:
    >>> trial_status({"status": "running"}, errored=False)
    'stopped_asha'
    >>> trial_status({"status": "pruned_nan"}, errored=False)
    'pruned_nan'
    >>> trial_status(None, errored=True)
    'error'
    >>> trial_status({"status": "running"}, errored=False, cut="stopped_budget")
    'stopped_budget'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RUNNING = "running"
COMPLETED = "completed"
STOPPED_ASHA = "stopped_asha"
STOPPED_BUDGET = "stopped_budget"
INTERRUPTED = "interrupted"
PRUNED_NAN = "pruned_nan"
ERROR = "error"

FINAL_STATUSES: tuple[str, ...] = (
    COMPLETED,
    STOPPED_ASHA,
    STOPPED_BUDGET,
    INTERRUPTED,
    PRUNED_NAN,
    ERROR,
)
# Cut by the search's own end, not by an event of the trial (``search.trial.endings``).
CUT_STATUSES: tuple[str, ...] = (STOPPED_BUDGET, INTERRUPTED)
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
    "CUT_STATUSES",
    "ERROR",
    "FINAL_STATUSES",
    "INTERRUPTED",
    "PRUNED_NAN",
    "PRUNED_OBJECTIVE",
    "RUNNING",
    "STOPPED_ASHA",
    "STOPPED_BUDGET",
    "trial_status",
]


def trial_status(
    last_result: Mapping[str, Any] | None, *, errored: bool, cut: str | None = None
) -> str:
    """The final status of a trial: one of ``FINAL_STATUSES``.

    1. ``errored`` (the trainable raised, or its worker died) -> ``error``.
    2. The last report said ``pruned_nan`` or ``completed`` -> that.
    3. ``cut`` (``stopped_budget`` or ``interrupted``): the search stopped the trial when it
       ended, without an event of the trial's own -> that.
    4. Otherwise the trial ended while still ``running``, or before its first report: its
       scheduler stopped it (ASHA) -> ``stopped_asha``.
    """
    if errored:
        return ERROR
    status = (last_result or {}).get("status")
    if status == PRUNED_NAN:
        return PRUNED_NAN
    if status == COMPLETED:
        return COMPLETED
    if cut is not None:
        if cut not in CUT_STATUSES:
            raise ValueError(f"cut must be one of {list(CUT_STATUSES)}, but got cut={cut!r}.")
        return cut
    return STOPPED_ASHA
