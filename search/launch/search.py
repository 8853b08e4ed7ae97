"""One search from start to end, top-down: checks, Ray started or joined, the Tuner run, the
results table printed and saved, MLflow closed.

Every check that can fail on bad input (``UsageError``, exit code 2) runs before any trial
starts. Ray's environment is set by the entry point before this module is imported.
"""

from __future__ import annotations

import pandas as pd
import ray
from ray.tune import ResultGrid, Tuner

from ntm.cli import UsageError
from ntm.errors import require
from search.cluster.nodes import check_resources, init_ray
from search.cluster.storage import require_reachable_storage, require_shared_storage
from search.launch.cli import PROG
from search.launch.config import SearchConfig, load_search_space
from search.launch.confirm import confirm_top, read_confirmed
from search.launch.results import format_table, table_from_grid, write_csv
from search.launch.tuner import build_tuner, make_tracking, restore_tuner
from search.space.format import SearchSpace
from search.space.study import load_study
from search.tracking.callback import MlflowTrackingCallback
from search.tracking.client import ui_runs_url
from search.tracking.finish import finish_search

__all__ = ["check_experiment", "run_search"]


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
    cfg: SearchConfig, space: SearchSpace | None, callback: MlflowTrackingCallback | None
) -> ResultGrid:
    """Inside Ray: the checks that need it and the Tuner run."""
    if cfg.address:
        check_resources(cfg.cpus_per_trial, cfg.gpus_per_trial, joined=True)
    require_shared_storage(cfg.storage_path, shared=cfg.shared_storage)
    print(
        f"{PROG}: experiment {cfg.experiment} in {cfg.storage_path}; after an interruption "
        f"continue it with: {PROG} --resume --experiment {cfg.experiment} "
        f"--storage-path {cfg.storage_path}",
        flush=True,
    )
    tuner = restore_tuner(cfg) if space is None else build_tuner(cfg, space, callback)
    try:
        grid = tuner.fit()
    except ValueError as exc:  # a failure during the search is not a usage error (exit 2)
        raise RuntimeError(f"the search failed: {exc}") from exc
    return grid


def run_search(cfg: SearchConfig) -> pd.DataFrame:
    """Validate, start Ray, search, and return the results table (also printed and saved)."""
    require_reachable_storage(cfg.storage_path)  # a missing bucket: before anything is written
    space = None if cfg.resume else load_search_space(cfg)  # a resumed search has its own
    if not cfg.address:
        check_resources(cfg.cpus_per_trial, cfg.gpus_per_trial, joined=False)
    check_experiment(cfg)
    callback = make_tracking(cfg)
    init_ray(cfg.address)
    try:
        grid = _tune(cfg, space, callback)
        confirmed = read_confirmed(cfg.experiment_path)  # an earlier confirmation, if any
        if cfg.confirm_top:
            confirmed = confirm_top(cfg, table_from_grid(grid))
        table = table_from_grid(grid, confirmed)
    finally:
        ray.shutdown()
    print(format_table(table, top=cfg.top), flush=True)
    target = write_csv(table, cfg.experiment_path)
    print(f"{PROG}: results table saved to {target}", flush=True)
    if callback is not None:
        # PBT/PB2 searches have no Optuna study
        study = None if cfg.population_based else load_study(cfg.study_storage, str(cfg.experiment))
        finish_search(callback, table, cfg.experiment_path, study=study, confirmed=confirmed)
        print(f"{PROG}: {ui_runs_url(callback.tracking_uri, callback.experiment_id())}")
    return table
