"""The end-of-search table: one row per trial (pandas), best first by the one ranking
(``search.trial.ranking.best_key``: its first row is the trial the export takes), saved as
``results.csv`` in the experiment directory, printed with the counts of each final status.

Columns: ``lowest_objective`` (the lowest objective over the trial's reports: bit errors per
sequence, or the Bayes gap in bits on N-grams; not MLflow's ``best_objective``, the best trial's
last one), ``last_objective`` (the last one: what its final checkpoint scores), ``max_level``,
``last_cost`` (the last evaluation's bits per sequence), ``confirm_mean_objective``,
``confirm_worst_objective`` and ``confirm_seeds`` (after ``--confirm-top``, else empty), then
the key parameters and the trial's ``seed``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.fs
from ray.tune import ResultGrid

from search.cluster.storage import is_remote_uri
from search.trial.endings import TrialEndings
from search.trial.experiment_files import RESULTS_CSV
from search.trial.ranking import best_key, exportable
from search.trial.status import FINAL_STATUSES, PRUNED_NAN, PRUNED_OBJECTIVE, trial_status

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

__all__ = [
    "KEY_PARAMS",
    "best_trials",
    "format_table",
    "reported",
    "results_table",
    "status_counts",
    "table_from_grid",
    "trial_row",
    "write_csv",
]


def _lowest_objective(history: pd.DataFrame | None, last: Mapping[str, Any]) -> float:
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
    cut: str | None = None,
) -> dict[str, Any]:
    """One table row from what Ray kept of a trial; ``_rank`` is its ranking key. ``cut``:
    the trial was stopped by the search's end (``search.trial.endings``)."""
    last = last or {}
    status = trial_status(last or None, errored=errored, cut=cut)
    max_level = last.get("max_level_reached", math.nan)
    if history is not None and "max_level_reached" in history:
        max_level = history["max_level_reached"].max()
    scored = status != PRUNED_NAN  # a pruned_nan report's objective is a sentinel
    return {
        "trial_id": trial_id,
        "status": status,
        "lowest_objective": _lowest_objective(history, last),
        "last_objective": last.get("objective", math.nan) if scored else math.nan,
        "max_level": max_level,
        "last_cost": last.get("eval_loss", math.nan) if scored else math.nan,
        "confirm_mean_objective": last.get("confirm_mean_objective", math.nan),
        "confirm_worst_objective": last.get("confirm_worst_objective", math.nan),
        "confirm_seeds": last.get("confirm_seeds"),
        "iterations": last.get("training_iteration", 0),
        "sequences": last.get("sequences", 0),
        **{k: config.get(k) for k in KEY_PARAMS},
        "seed": config.get("seed"),
        "nan_step": last.get("nan_step"),
        "nan_parameters": last.get("nan_parameters"),
        "checkpoint": checkpoint,
        "_rank": best_key(trial_id, status, last, checkpoint=checkpoint),
    }


def results_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """All trials, best first (``best_key``); with no trial, the columns alone (so that
    results.csv always has its header)."""
    ordered = sorted(rows, key=lambda row: row["_rank"])
    columns = [k for k in trial_row("", {}, None, None, errored=False) if k != "_rank"]
    table = pd.DataFrame([{k: row[k] for k in columns} for row in ordered], columns=columns)
    return table.reset_index(drop=True)


def table_from_grid(
    grid: ResultGrid,
    confirmed: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    endings: TrialEndings | None = None,
) -> pd.DataFrame:
    """The table of the trials a Tuner ran (trials that never started are left out), with
    the ``confirmed`` results of ``search.launch.confirm`` (by trial id) merged into each
    trial's last report, so that the ranking sees them. ``endings`` names the trials the
    search's end cut, and those that started without reporting (they have a row too)."""
    rows = []
    for index in range(len(grid)):
        result = grid[index]
        try:
            history = result.metrics_dataframe
        except Exception:  # a trial that never reported has no progress file
            history = None
        metrics = result.metrics or {}
        trial_id = str(metrics.get("trial_id") or Path(result.path).name)
        reported = "training_iteration" in metrics
        started = endings is not None and trial_id in endings.started
        if not reported and not started and result.error is None:
            continue  # never started (the time budget ran out first): not a trial run
        if not reported:
            metrics = {}  # what Ray fills in for a trial without a report is no score
        metrics = {**metrics, **(confirmed or {}).get(trial_id, {})}
        checkpoint = result.checkpoint.path if result.checkpoint is not None else None
        cut = endings.cut_status(trial_id) if endings is not None else None
        rows.append(
            trial_row(trial_id, result.config or {}, metrics, history,
                      errored=result.error is not None, checkpoint=checkpoint, cut=cut)
        )  # fmt: skip
    return results_table(rows)


def best_trials(table: pd.DataFrame, top: int) -> list[str]:
    """The ids of the ``top`` best trials that can be exported (``exportable``), best first:
    the table's first rows (``results_table`` orders them first)."""
    if table.empty:
        return []
    ok = [exportable(s, c) for s, c in zip(table["status"], table["checkpoint"], strict=True)]
    return [str(t) for t in table[ok]["trial_id"].head(top)]


def reported(table: pd.DataFrame) -> bool:
    """Whether any trial of the table reported at least once."""
    return not table.empty and bool((table["iterations"].fillna(0) > 0).any())


def write_csv(table: pd.DataFrame, experiment_path: str) -> str:
    """Save the table as results.csv in the experiment directory (local or URI)."""
    target = f"{experiment_path}/{RESULTS_CSV}"
    if is_remote_uri(target):
        fs, path = pyarrow.fs.FileSystem.from_uri(target)
        with fs.open_output_stream(path) as stream:
            stream.write(table.to_csv(index=False).encode())
    else:
        local = Path(target.removeprefix("file://"))
        local.parent.mkdir(parents=True, exist_ok=True)
        temporary = local.with_suffix(".csv.tmp")  # then renamed: never half-written
        table.to_csv(temporary, index=False)
        os.replace(temporary, local)
    return target


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many trials ended in each final status (every one of them, zeros included)."""
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
