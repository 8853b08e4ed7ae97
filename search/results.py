"""The end-of-search table: one row per trial (pandas), its CSV, and the status counts.

Rows are ranked by status first (completed and ASHA-stopped trials, then NaN-pruned, then
errored: a NaN trial is never ranked best, whatever it scored before the fault), then by
``best_bit_errors`` (lowest objective over the trial's reports), then by the highest
curriculum level reached, then by ``last_cost`` (the last evaluation's cost in bits per
sequence: among trials that all reach 0 bit errors, the most confident one first).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from search.status import (
    COMPLETED,
    ERROR,
    FINAL_STATUSES,
    PRUNED_NAN,
    PRUNED_OBJECTIVE,
    STOPPED_ASHA,
    trial_status,
)

RESULTS_CSV = "results.csv"
KEY_PARAMS = (
    "controller",
    "controller_size",
    "memory_n",
    "memory_m",
    "shift_range",
    "lr",
    "optimizer",
    "batch_size",
    "clip_value",
    "curriculum",
)
_STATUS_RANK = {COMPLETED: 0, STOPPED_ASHA: 0, PRUNED_NAN: 1, ERROR: 2}

__all__ = ["KEY_PARAMS", "RESULTS_CSV", "format_table", "results_table", "status_counts"]


def _best_objective(history: pd.DataFrame | None, last: Mapping[str, Any]) -> float:
    """The lowest finite, non-sentinel objective a trial reported (NaN if none)."""
    values: list[float] = []
    if history is not None and "objective" in history:
        values = [float(v) for v in history["objective"].dropna()]
    elif "objective" in last:
        values = [float(last["objective"])]
    real = [v for v in values if math.isfinite(v) and v < PRUNED_OBJECTIVE]
    return min(real, default=math.nan)


def trial_row(
    trial_id: str,
    config: Mapping[str, Any],
    last: Mapping[str, Any] | None,
    history: pd.DataFrame | None,
    *,
    errored: bool,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """One table row from what Ray kept of a trial."""
    last = last or {}
    status = trial_status(last or None, errored=errored)
    max_level = last.get("max_level_reached", math.nan)
    if history is not None and "max_level_reached" in history:
        max_level = history["max_level_reached"].max()
    return {
        "trial_id": trial_id,
        "status": status,
        "best_bit_errors": _best_objective(history, last),
        "last_bit_errors": last.get("objective", math.nan) if status != PRUNED_NAN else math.nan,
        "max_level": max_level,
        "last_cost": last.get("eval_loss", math.nan) if status != PRUNED_NAN else math.nan,
        "iterations": last.get("training_iteration", 0),
        "sequences": last.get("sequences", 0),
        **{k: config.get(k) for k in KEY_PARAMS},
        "nan_step": last.get("nan_step"),
        "nan_parameters": last.get("nan_parameters"),
        "checkpoint": checkpoint,
    }


def results_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """All trials, best first (see the module docstring for the order)."""
    table = pd.DataFrame(list(rows))
    if table.empty:
        return table
    rank = table["status"].map(_STATUS_RANK)
    order = table.assign(
        _rank=rank,
        _best=table["best_bit_errors"].fillna(math.inf),
        _cost=table["last_cost"].fillna(math.inf),
    )
    order = order.sort_values(
        ["_rank", "_best", "max_level", "_cost"],
        ascending=[True, True, False, True],
        kind="stable",
    )
    return order.drop(columns=["_rank", "_best", "_cost"]).reset_index(drop=True)


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many trials ended in each final status (all four keys, zeros included)."""
    counts = table["status"].value_counts() if not table.empty else pd.Series(dtype=int)
    return {status: int(counts.get(status, 0)) for status in FINAL_STATUSES}


def format_table(table: pd.DataFrame, *, top: int = 10) -> str:
    """The top rows as fixed-width text (no checkpoint paths), then the counts."""
    counts = status_counts(table)
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    if table.empty:
        return f"no trials ran ({summary})"
    shown = table.drop(columns=["checkpoint", "nan_parameters"]).head(top)
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")
    return f"top {len(shown)} of {len(table)} trials:\n{text}\ntrials: {summary}"
