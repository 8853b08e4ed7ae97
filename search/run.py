#!/usr/bin/env python3
"""Search NTM hyperparameters: Ray Tune trials proposed by Optuna (TPE), stopped by ASHA.

    python search/run.py                                # copy, default space, ~15 min, 2 cores
    python search/run.py --task repeat_copy --time-budget 3600
    python search/run.py --smoke-test                   # a complete tiny search, < 1 minute
    python search/run.py --resume --experiment NAME     # continue after Ctrl-C or kill -9
    python search/run.py --address auto                 # on the cluster of `ray up cluster.yaml`

Ray runs locally by default (started in-process, every server on 127.0.0.1, no dashboard,
all CPUs); --address auto, or RAY_ADDRESS, joins a running cluster instead. Each trial
reports every --report-sequences training sequences (one ASHA iteration), evaluating bit
errors per sequence at the task's target difficulty: that is the `objective` minimised.

Fault injection (tests, demos): --inject-nan-at-step N makes the first --inject-nan-trials K
trials (default 1) multiply their loss by NaN at step N, so their gradients turn non-finite
for real; such a trial ends with status pruned_nan at its next report, Optuna records it
as PRUNED, and the search goes on.

At the end a table of the top trials and the counts of completed, stopped_asha, pruned_nan
and error trials are printed, and the full table is saved as results.csv in the experiment
directory (STORAGE_PATH/EXPERIMENT). Bad input exits with code 2 before any trial starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Runnable as a script (`python search/run.py`): the repository root goes on the path, and
# this file's own folder comes off it, so that search/space.py & co. never shadow other modules
# (Ray passes the driver's path on to its workers).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from ntm.cli import Parser, UsageError, guarded  # noqa: E402
from ntm.tasks import TASKS  # noqa: E402
from search.space import SearchSpace, default_space_path, load_space  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd
    from ray.tune import ResultGrid

PROG = "python search/run.py"
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
NEW_OUTPUT_ENV = "RAY_AIR_NEW_OUTPUT"  # "0": Ray's table reporter with our columns
# The smoke test: a tiny model on copy lengths 1-3, so that 4 trials finish in seconds.
SMOKE_MODEL = {
    "controller_size": 16,
    "controller_layers": 1,
    "memory_n": 16,
    "memory_m": 8,
    "batch_size": 8,
    "curriculum": "plateau",
}
SMOKE_TASK_PARAMS = {"copy": {"min_length": 1, "max_length": 3}}


@dataclass(frozen=True)
class SearchConfig:
    """Everything one search needs, built once from the command line."""

    task: str | None = None
    space: str | None = None
    num_samples: int = 64
    time_budget: float = 840.0
    max_iterations: int = 100
    report_sequences: int = 1024
    trial_seconds: float = 360.0
    stop_bit_errors: float | None = 0.01
    eval_batch: int = 64
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    grace_period: int | None = None
    reduction_factor: float = 3.0
    checkpoint_seconds: float = 10.0
    experiment: str | None = None
    storage_path: str = "./ray_results"
    shared_storage: bool = False
    resume: bool = False
    seed: int = 0
    smoke_test: bool = False
    address: str | None = None
    inject_nan_at_step: int | None = None
    inject_nan_trials: int = 1
    tracking_uri: str | None = None
    tracking: bool = True
    top: int = 10

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise UsageError(message)

        need(
            self.task is None or self.task in TASKS,
            f"--task must be one of {sorted(TASKS)}, but got {self.task!r}",
        )
        for flag, value in (
            ("--num-samples", self.num_samples),
            ("--max-iterations", self.max_iterations),
            ("--report-sequences", self.report_sequences),
            ("--eval-batch", self.eval_batch),
            ("--inject-nan-trials", self.inject_nan_trials),
            ("--top", self.top),
        ):
            need(value >= 1, f"{flag} must be >= 1, but got {value}")
        need(self.time_budget > 0, f"--time-budget must be > 0 s, but got {self.time_budget}")
        need(self.trial_seconds >= 0, f"--trial-seconds must be >= 0, got {self.trial_seconds}")
        need(self.cpus_per_trial > 0, f"--cpus-per-trial must be > 0, got {self.cpus_per_trial}")
        need(self.gpus_per_trial >= 0, f"--gpus-per-trial must be >= 0, got {self.gpus_per_trial}")
        need(
            self.gpus_per_trial <= 1 or self.gpus_per_trial == int(self.gpus_per_trial),
            f"--gpus-per-trial above 1 must be a whole number, but got {self.gpus_per_trial}",
        )
        need(
            self.reduction_factor > 1,
            f"--reduction-factor must be > 1, but got {self.reduction_factor}",
        )
        need(
            self.grace_period is None or 1 <= self.grace_period <= self.max_iterations,
            f"--grace-period must be in [1, --max-iterations], but got {self.grace_period}",
        )
        need(
            self.inject_nan_at_step is None or self.inject_nan_at_step >= 1,
            f"--inject-nan-at-step must be >= 1, but got {self.inject_nan_at_step}",
        )
        need(
            self.experiment is None
            or ("/" not in self.experiment and bool(self.experiment.strip())),
            f"--experiment must be a plain name, but got {self.experiment!r}",
        )
        need(not self.resume or bool(self.experiment), "--resume needs --experiment NAME")

    @property
    def grace(self) -> int:
        """ASHA's grace period: 10% of the iterations, at least 1, at most 10."""
        if self.grace_period is not None:
            return self.grace_period
        return max(1, min(10, self.max_iterations // 10))

    @property
    def storage(self) -> str:
        """Absolute local path, or a URI (``s3://...``) as given."""
        if "://" in self.storage_path:
            return self.storage_path.rstrip("/")
        return str(Path(self.storage_path).expanduser().resolve())

    @property
    def experiment_path(self) -> str:
        assert self.experiment is not None  # set by resolve_defaults
        return f"{self.storage}/{self.experiment}"

    @property
    def threads(self) -> int:
        return max(1, math.floor(self.cpus_per_trial))

    def fixed_keys(self) -> dict[str, Any]:
        """Trial config keys that are the same for every trial (see search/params.py)."""
        return {
            "seed": self.seed,
            "threads": self.threads,
            "report_sequences": self.report_sequences,
            "max_reports": self.max_iterations,
            "max_seconds": self.trial_seconds,
            "stop_bit_errors": self.stop_bit_errors,
            "eval_batch": self.eval_batch,
            "checkpoint_seconds": self.checkpoint_seconds,
        }


def build_parser() -> argparse.ArgumentParser:
    d = SearchConfig()
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to search")
    g.add_argument("--task", default=None, help=f"{' | '.join(sorted(TASKS))} (default: copy)")
    g.add_argument("--space", help="search space YAML (default: search/spaces/TASK.yaml)")
    g.add_argument("--num-samples", type=int, default=d.num_samples, help="trials at most")
    g.add_argument("--seed", type=int, default=d.seed, help="Optuna sampler and trial seed")
    g = p.add_argument_group("budget and early stopping")
    g.add_argument(
        "--time-budget",
        type=float,
        default=d.time_budget,
        help="seconds for the whole search (default %(default)s)",
    )
    g.add_argument(
        "--max-iterations", type=int, default=d.max_iterations, help="reports per trial at most"
    )
    g.add_argument(
        "--report-sequences",
        type=int,
        default=d.report_sequences,
        help="training sequences per report (one ASHA iteration)",
    )
    g.add_argument(
        "--trial-seconds",
        type=float,
        default=d.trial_seconds,
        help="training-time cap of one trial, 0 = none (default %(default)s)",
    )
    g.add_argument(
        "--stop-bit-errors",
        type=float,
        default=d.stop_bit_errors,
        help="a trial at its target level stops, completed, below these eval bit errors/seq",
    )
    g.add_argument("--eval-batch", type=int, default=d.eval_batch, help="evaluation sequences")
    g.add_argument("--grace-period", type=int, help="ASHA grace period in iterations")
    g.add_argument("--reduction-factor", type=float, default=d.reduction_factor, help="ASHA")
    g = p.add_argument_group("resources")
    g.add_argument("--cpus-per-trial", type=float, default=d.cpus_per_trial)
    g.add_argument(
        "--gpus-per-trial", type=float, default=d.gpus_per_trial, help="fractional, e.g. 0.25"
    )
    g.add_argument("--address", help="join a Ray cluster ('auto'; default: RAY_ADDRESS or local)")
    g = p.add_argument_group("experiment")
    g.add_argument("--experiment", help="experiment name (default: TASK-YYYYmmdd-HHMMSS)")
    g.add_argument(
        "--storage-path",
        default=d.storage_path,
        help="local directory or shared URI (s3://...) for results and checkpoints",
    )
    g.add_argument(
        "--shared-storage",
        action="store_true",
        help="declare a local --storage-path shared by every node (NFS)",
    )
    g.add_argument("--resume", action="store_true", help="continue --experiment NAME")
    g.add_argument(
        "--checkpoint-seconds",
        type=float,
        default=d.checkpoint_seconds,
        help="checkpoint a trial at most this often (and at its last report)",
    )
    g.add_argument("--tracking-uri", help="MLflow URI (default: MLFLOW_TRACKING_URI or sqlite)")
    g.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    g.add_argument("--top", type=int, default=d.top, help="rows of the final table")
    g = p.add_argument_group("testing")
    g.add_argument("--smoke-test", action="store_true", help="a complete tiny search (< 1 min)")
    g.add_argument("--inject-nan-at-step", type=int, help="fault injection: NaN loss at step N")
    g.add_argument(
        "--inject-nan-trials",
        type=int,
        default=d.inject_nan_trials,
        help="how many of the first trials get the NaN (default 1)",
    )
    return p


def config_from_args(a: argparse.Namespace) -> SearchConfig:
    values: dict[str, Any] = {
        "task": a.task,
        "space": a.space,
        "num_samples": a.num_samples,
        "time_budget": a.time_budget,
        "max_iterations": a.max_iterations,
        "report_sequences": a.report_sequences,
        "trial_seconds": a.trial_seconds,
        "stop_bit_errors": a.stop_bit_errors,
        "eval_batch": a.eval_batch,
        "grace_period": a.grace_period,
        "reduction_factor": a.reduction_factor,
        "cpus_per_trial": a.cpus_per_trial,
        "gpus_per_trial": a.gpus_per_trial,
        "checkpoint_seconds": a.checkpoint_seconds,
        "experiment": a.experiment,
        "storage_path": a.storage_path,
        "shared_storage": a.shared_storage,
        "resume": a.resume,
        "seed": a.seed,
        "smoke_test": a.smoke_test,
        "address": a.address or os.environ.get("RAY_ADDRESS") or None,
        "inject_nan_at_step": a.inject_nan_at_step,
        "inject_nan_trials": a.inject_nan_trials,
        "tracking_uri": a.tracking_uri,
        "tracking": not a.no_tracking,
        "top": a.top,
    }
    if a.smoke_test:  # tiny and quick unless given explicitly
        given = {k for k, v in vars(a).items() if v != build_parser().get_default(k)}
        smoke = {
            "num_samples": 4,
            "time_budget": 60.0,
            "max_iterations": 4,
            "report_sequences": 64,
            "trial_seconds": 20.0,
            "eval_batch": 16,
            "checkpoint_seconds": 0.0,
        }
        values.update({k: v for k, v in smoke.items() if k not in given})
    if not values["experiment"]:
        prefix = "smoke" if a.smoke_test else a.task or Path(a.space or "copy").stem
        values["experiment"] = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    return SearchConfig(**values)


def load_search_space(cfg: SearchConfig) -> SearchSpace:
    """The validated space (smoke test: with the tiny model fixed); UsageError if unusable."""
    path = cfg.space or str(default_space_path(cfg.task or "copy"))
    space = load_space(path, fixed_keys=cfg.fixed_keys())
    if cfg.task is not None and space.task != cfg.task:
        raise UsageError(f"--task {cfg.task} does not match the space {path} (task {space.task})")
    if cfg.smoke_test:
        task_params = SMOKE_TASK_PARAMS.get(space.task)
        space = space.with_fixed(SMOKE_MODEL, task_params=task_params)
        space.validate(cfg.fixed_keys())
    return space


# -- Ray ------------------------------------------------------------------------------------
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


def make_searcher(cfg: SearchConfig, space: SearchSpace) -> Any:
    import optuna

    from search.searcher import NTMOptunaSearch

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=cfg.seed,
        n_startup_trials=min(8, max(2, cfg.num_samples // 4)),
        multivariate=True,
        group=True,  # conditional parameters: one TPE model per sub-space
        constant_liar=True,  # running trials count as bad guesses: concurrent trials differ
    )
    nan = None
    if cfg.inject_nan_at_step is not None:
        nan = (cfg.inject_nan_at_step, cfg.inject_nan_trials)
    return NTMOptunaSearch(
        space,
        metric="objective",
        mode="min",
        sampler=sampler,
        points_to_evaluate=[dict(p) for p in space.start_points] or None,
        inject_nan=nan,
    )


def trainable_with_resources(cfg: SearchConfig) -> Any:
    from ray import tune

    from search.trainable import train_ntm

    return tune.with_resources(train_ntm, {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})


def checkpoints_to_keep(cfg: SearchConfig) -> int:
    """Enough that the checkpoint in Tune's experiment snapshot (written at least every 10 s,
    kept in step by Ray) is still on disk when the driver is killed between snapshots."""
    return max(4, math.ceil(40.0 / max(cfg.checkpoint_seconds, 1.0)))


def make_tracking(cfg: SearchConfig) -> Any:
    """The MLflow callback (search/tracking.py), or None when disabled or not installed."""
    if not cfg.tracking:
        return None
    try:
        from search import tracking
    except ImportError:
        return None
    uri = cfg.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("tracking",)}
    return tracking.make_tracking_callback(uri, str(cfg.experiment), params)


def make_reporter(cfg: SearchConfig) -> Any:
    """Ray's table reporter with the columns that matter, best trials first."""
    from ray.tune import CLIReporter

    return CLIReporter(
        metric_columns={
            "objective": "bit errors",
            "max_level_reached": "level",
            "sequences": "seqs",
            "seq_per_sec": "seq/s",
            "status": "state",
            "training_iteration": "iter",
        },
        parameter_columns={
            "lr": "lr",
            "batch_size": "batch",
            "controller_size": "ctrl",
            "memory_n": "N",
            "memory_m": "M",
            "curriculum": "curriculum",
        },
        max_report_frequency=10 if cfg.smoke_test else 30,
        max_progress_rows=cfg.top,
    )


def build_tuner(cfg: SearchConfig, space: SearchSpace | None, callback: Any) -> Any:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    trainable = trainable_with_resources(cfg)
    if cfg.resume:
        return tune.Tuner.restore(
            cfg.experiment_path, trainable, resume_unfinished=True, resume_errored=True
        )
    assert space is not None  # loaded for every new search
    scheduler = ASHAScheduler(
        time_attr="training_iteration",
        max_t=cfg.max_iterations,
        grace_period=cfg.grace,
        reduction_factor=cfg.reduction_factor,
    )
    return tune.Tuner(
        trainable,
        param_space={"task": space.task, "task_params": dict(space.task_params)} | cfg.fixed_keys(),
        tune_config=tune.TuneConfig(
            metric="objective",
            mode="min",
            search_alg=make_searcher(cfg, space),
            scheduler=scheduler,
            num_samples=cfg.num_samples,
            time_budget_s=cfg.time_budget,
            trial_dirname_creator=lambda trial: str(trial.trial_id),
            reuse_actors=True,  # one worker process runs trial after trial: no re-import
        ),
        run_config=tune.RunConfig(
            name=cfg.experiment,
            storage_path=cfg.storage,
            callbacks=[callback] if callback is not None else None,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_to_keep(cfg)),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=1,
            progress_reporter=make_reporter(cfg),
        ),
    )


# -- results --------------------------------------------------------------------------------
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    table = run_search(cfg)
    errored = (table["status"] == "error").all() if not table.empty else True
    return 1 if errored else 0


if __name__ == "__main__":
    sys.exit(guarded(PROG, main))
