"""The Ray Tune ``Tuner`` of a search: Optuna searcher, ASHA, resources, tracking, reporter.

Ray, Optuna and MLflow are imported inside the functions: nothing heavy is imported before
``search/run.py`` has set up Ray's environment.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from typing import Any

from search.config import SearchConfig
from search.space import SearchSpace

__all__ = [
    "build_tuner",
    "checkpoints_to_keep",
    "make_reporter",
    "make_searcher",
    "make_tracking",
    "trainable_with_resources",
]


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
