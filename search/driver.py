"""One search from start to end: checks, Ray started or joined, the Tuner run, the table.

Every check that can fail on bad input (``UsageError``, exit code 2) runs before any trial
starts. Ray is imported inside the functions, after the environment is set up.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ntm.cli import UsageError
from search.cli import PROG
from search.config import SearchConfig, load_search_space
from search.tuner import build_tuner, make_tracking

if TYPE_CHECKING:
    import pandas as pd
    from ray.tune import ResultGrid

__all__ = [
    "LOOPBACK_ENV",
    "NEW_OUTPUT_ENV",
    "check_experiment",
    "check_resources",
    "finish",
    "init_ray",
    "run_search",
    "table_from_grid",
    "write_csv",
]

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
NEW_OUTPUT_ENV = "RAY_AIR_NEW_OUTPUT"  # "0": Ray's table reporter with our columns


def init_ray(cfg: SearchConfig) -> None:
    """Start local Ray on 127.0.0.1 (all CPUs, no dashboard), or join ``cfg.address``."""
    import ray

    if cfg.address:
        ray.init(address=cfg.address, logging_level=logging.WARNING)
    else:
        ray.init(
            address="local",  # a new instance, never one found on this machine
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
        )


def check_resources(cfg: SearchConfig) -> None:
    """A trial must fit on one node: UsageError otherwise (before any trial starts)."""
    if cfg.address:
        import ray

        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        cpus = max((r.get("CPU", 0.0) for r in nodes), default=0.0)
        gpus = max((r.get("GPU", 0.0) for r in nodes), default=0.0)
        where = "any node of the cluster"
        if cpus == 0:  # only a CPU-less head so far: workers still joining, nothing to check
            return
    else:
        import torch

        cpus = float(os.cpu_count() or 1)
        gpus = float(torch.cuda.device_count()) if torch.cuda.is_available() else 0.0
        where = "this machine"
    if cfg.cpus_per_trial > cpus:
        raise UsageError(
            f"--cpus-per-trial {cfg.cpus_per_trial:g} is more than the {cpus:g} CPUs of {where}"
        )
    if cfg.gpus_per_trial > gpus:
        raise UsageError(
            f"--gpus-per-trial {cfg.gpus_per_trial:g} is more than the {gpus:g} GPUs of {where}"
        )


def check_experiment(cfg: SearchConfig) -> None:
    """--resume needs an experiment; a new search must not overwrite one."""
    from ray.tune import Tuner

    exists = Tuner.can_restore(cfg.experiment_path)
    if cfg.resume and not exists:
        raise UsageError(
            f"no experiment to resume at {cfg.experiment_path} "
            "(check --experiment and --storage-path)"
        )
    if not cfg.resume and exists:
        raise UsageError(
            f"experiment {cfg.experiment!r} already exists in {cfg.storage}; "
            "continue it with --resume or choose another --experiment"
        )


def table_from_grid(grid: ResultGrid) -> pd.DataFrame:
    from search.results import results_table, trial_row

    rows = []
    for index in range(len(grid)):
        result = grid[index]
        history = None
        try:
            history = result.metrics_dataframe
        except Exception:  # a trial that never reported has no progress file
            history = None
        metrics = result.metrics or {}
        if not metrics and result.error is None:
            continue  # never started (the time budget ran out first): not a trial run
        trial_id = str(metrics.get("trial_id") or Path(result.path).name)
        checkpoint = result.checkpoint.path if result.checkpoint is not None else None
        rows.append(
            trial_row(
                trial_id,
                result.config or {},
                metrics,
                history,
                errored=result.error is not None,
                checkpoint=checkpoint,
            )
        )
    return results_table(rows)


def write_csv(table: pd.DataFrame, experiment_path: str) -> str:
    """Save the table as results.csv in the experiment directory (local or URI)."""
    from search.results import RESULTS_CSV

    target = f"{experiment_path}/{RESULTS_CSV}"
    if "://" in target:
        import pyarrow.fs

        fs, path = pyarrow.fs.FileSystem.from_uri(target)
        with fs.open_output_stream(path) as stream:
            stream.write(table.to_csv(index=False).encode())
    else:
        table.to_csv(target, index=False)
    return target


def run_search(cfg: SearchConfig) -> pd.DataFrame:
    """Validate, start Ray, search, and return the results table (also printed and saved)."""
    space = None if cfg.resume else load_search_space(cfg)  # a resumed search has its own
    if not cfg.address:  # keep every Ray server on 127.0.0.1 (set before Ray starts)
        os.environ.setdefault(LOOPBACK_ENV, "0")
        check_resources(cfg)
    os.environ.setdefault(NEW_OUTPUT_ENV, "0")
    check_experiment(cfg)
    callback = make_tracking(cfg)
    import ray

    init_ray(cfg)
    try:
        if cfg.address:
            check_resources(cfg)
        try:
            from search.cluster import require_shared_storage
        except ImportError:
            pass
        else:
            require_shared_storage(cfg.storage, shared=cfg.shared_storage)
        print(
            f"{PROG}: experiment {cfg.experiment} in {cfg.storage}; after an interruption "
            f"continue it with: {PROG} --resume --experiment {cfg.experiment} "
            f"--storage-path {cfg.storage}",
            flush=True,
        )
        tuner = build_tuner(cfg, space, callback)
        try:
            grid = tuner.fit()
        except ValueError as exc:  # a failure during the search is not a usage error (exit 2)
            raise RuntimeError(f"the search failed: {exc}") from exc
        table = table_from_grid(grid)
    finally:
        ray.shutdown()
    finish(cfg, table, callback)
    return table


def finish(cfg: SearchConfig, table: pd.DataFrame, callback: Any) -> None:
    from search.results import format_table

    print(format_table(table, top=cfg.top), flush=True)
    target = write_csv(table, cfg.experiment_path)
    print(f"{PROG}: results table saved to {target}", flush=True)
    if cfg.tracking:
        try:
            from search import tracking
        except ImportError:
            return
        if callback is None:
            return
        tracking.finish_search(callback, table, Path(cfg.experiment_path))
