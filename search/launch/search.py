"""One search from start to end, top-down: checks, Ray started or joined, the Tuner run, the
results table printed and saved, the Optuna study and MLflow closed.

Every check that can fail on bad input (``UsageError``, exit code 2) runs before any trial
starts. Ray's environment is set by the entry point before this module is imported.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

import pandas as pd
import ray
from ray.tune import ResultGrid, Tuner

from ntm.cli import UsageError
from ntm.errors import first_line, require
from search.cluster.nodes import check_resources, init_ray
from search.cluster.storage import require_reachable_storage, require_shared_storage
from search.launch.cli import PROG
from search.launch.config import SearchConfig, load_search_space
from search.launch.confirm import confirm_top
from search.launch.interrupt import stop_on_signals
from search.launch.results import (
    format_table,
    reported,
    status_counts,
    table_from_grid,
    write_csv,
)
from search.launch.tuner import build_tuner, make_tracking, restore_tuner, tuner_endings
from search.space.format import SearchSpace
from search.space.study import close_running_trials, load_study
from search.tracking.callback import MlflowTrackingCallback
from search.tracking.client import ui_runs_url
from search.tracking.finish import finish_search
from search.trial.endings import TrialEndings
from search.trial.experiment_files import read_confirmed
from search.trial.ray_logs import quiet_unreported_trials
from search.trial.status import STOPPED_BUDGET

__all__ = ["SearchOutcome", "check_experiment", "run_search"]


class SearchOutcome(NamedTuple):
    """What a search ended with: its results table, and the signal that interrupted it."""

    table: pd.DataFrame
    interrupted: str | None = None


def check_experiment(cfg: SearchConfig) -> None:
    """--resume needs an experiment; a new search must not overwrite one."""
    exists = Tuner.can_restore(cfg.experiment_path)
    require(
        exists or not cfg.resume,
        f"no experiment to resume at {cfg.experiment_path} (check --experiment and --storage-path)",
        error=UsageError,
    )
    require(
        cfg.resume or not exists,
        f"experiment {cfg.experiment!r} already exists in {cfg.storage_path}; "
        "continue it with --resume or choose another --experiment",
        error=UsageError,
    )


def _tune(
    cfg: SearchConfig,
    space: SearchSpace | None,
    callback: MlflowTrackingCallback | None,
    endings: TrialEndings,
) -> tuple[ResultGrid, TrialEndings | None]:
    """Inside Ray: the checks that need it and the Tuner run; the results and the trials'
    endings (``search.trial.endings``; for a resumed search the restored callback's).

    A failure of Ray's loop itself (a callback that raised, say) is said on one line and the
    results are read back from the experiment's last snapshot: the search still ends.
    """
    if cfg.address:
        check_resources(cfg.cpus_per_trial, cfg.gpus_per_trial, joined=True)
    require_shared_storage(cfg.storage_path, shared=cfg.shared_storage)
    print(
        f"{PROG}: experiment {cfg.experiment} in {cfg.storage_path}; after an interruption "
        f"continue it with: {PROG} --resume --experiment {cfg.experiment} "
        f"--storage-path {cfg.storage_path}",
        flush=True,
    )
    tuner = restore_tuner(cfg) if space is None else build_tuner(cfg, space, callback, endings)
    try:
        grid = tuner.fit()
    except ValueError as exc:  # a failure during the search is not a usage error (exit 2)
        raise RuntimeError(f"the search failed: {exc}") from exc
    except Exception as exc:
        print(f"{PROG}: the search loop stopped early ({type(exc).__name__}: {first_line(exc)}); "
              "results from its last snapshot", file=sys.stderr, flush=True)  # fmt: skip
        grid = restore_tuner(cfg).get_results()
    return grid, tuner_endings(tuner)


def run_search(cfg: SearchConfig) -> SearchOutcome:
    """Validate, start Ray, search, and return the results table (also printed and saved).

    However the search loop ends (its budget, its trials done, Ctrl-C or SIGTERM, a failing
    display or callback), the table is printed and saved as results.csv, the Optuna study's
    trials and the MLflow runs get final states (``_close``).
    """
    require_reachable_storage(cfg.storage_path)  # a missing bucket: before anything is written
    space = None if cfg.resume else load_search_space(cfg)  # a resumed search has its own
    if not cfg.address:
        check_resources(cfg.cpus_per_trial, cfg.gpus_per_trial, joined=False)
    check_experiment(cfg)
    endings = TrialEndings()
    callback = make_tracking(cfg, endings)
    init_ray(cfg.address)
    quiet_unreported_trials()  # a trial cut before its first report is in the table already
    with stop_on_signals() as signals:  # also while the search's end is written
        try:
            grid, found = _tune(cfg, space, callback, endings)
            interrupted = signals.received[0] if signals.received else None
            endings = found if found is not None else TrialEndings()
            confirmed = read_confirmed(cfg.experiment_path)  # an earlier confirmation, if any
            if cfg.confirm_top and interrupted is None:
                confirmed = confirm_top(cfg, table_from_grid(grid, endings=endings))
            table = table_from_grid(grid, confirmed, endings=endings)
        finally:
            ray.shutdown()
        _close(cfg, table, callback, confirmed, endings)
    if interrupted is not None:
        print(f"{PROG}: interrupted by {interrupted}; continue it with: {PROG} --resume "
              f"--experiment {cfg.experiment} --storage-path {cfg.storage_path}")  # fmt: skip
    return SearchOutcome(table, interrupted)


def _close(
    cfg: SearchConfig,
    table: pd.DataFrame,
    callback: MlflowTrackingCallback | None,
    confirmed: Mapping[str, Mapping[str, Any]],
    endings: TrialEndings,
) -> None:
    """The end of every search: the table printed (or one line when no trial reported) and
    saved, the Optuna study's RUNNING trials closed, MLflow finished."""
    if reported(table):
        print(format_table(table, top=cfg.top), flush=True)
    else:
        counts = ", ".join(f"{n} {k}" for k, n in status_counts(table).items() if n)
        what = f"{len(table)} started: {counts}" if counts else "none started"
        print(f"{PROG}: no trial reported a result within --time-budget {cfg.time_budget:g} s "
              f"({what}); on a busy machine give a longer budget or fewer trials at once",
              flush=True)  # fmt: skip
    target = write_csv(table, cfg.experiment_path)
    print(f"{PROG}: results table saved to {target}", flush=True)
    study = None if cfg.population_based else load_study(cfg.study_storage, str(cfg.experiment))
    if study is not None:
        statuses = dict(zip(table["trial_id"], table["status"])) if not table.empty else {}

        def status_of(trial_id: str | None) -> str:
            default = endings.cut_status(trial_id or "") or STOPPED_BUDGET  # never started
            return str(statuses.get(trial_id, default))

        close_running_trials(study, status_of)
    if callback is not None:
        finish_search(callback, table, cfg.experiment_path, study=study, confirmed=confirmed)
        print(f"{PROG}: {ui_runs_url(callback.tracking_uri, callback.experiment_id())}")
