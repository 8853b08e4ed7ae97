"""The Ray Tune ``Tuner`` of a search: the Optuna searcher over the space and ASHA, or a
PBT/PB2 population (``search.launch.schedulers``), the trainable with its resources, the
MLflow callback and the progress reporter.

The metric (``objective``, minimised) is declared once, here.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.search import BasicVariantGenerator, SearchAlgorithm, Searcher

from search.launch.config import SearchConfig
from search.launch.reporter import SearchReporter
from search.launch.schedulers import make_scheduler
from search.space.format import SearchSpace
from search.space.population import Population, population
from search.space.searcher import NTMOptunaSearch
from search.space.study import open_storage
from search.tracking.callback import MlflowTrackingCallback, make_tracking_callback
from search.tracking.client import tracking_uri
from search.trial.endings import TrialEndings
from search.trial.keys import trial_config
from search.trial.trainable import train_ntm

METRIC, MODE = "objective", "min"

__all__ = [
    "METRIC",
    "MODE",
    "build_tuner",
    "checkpoints_to_keep",
    "make_reporter",
    "make_searcher",
    "make_tracking",
    "restore_tuner",
    "trainable",
    "tuner_endings",
]


def make_searcher(cfg: SearchConfig, space: SearchSpace) -> NTMOptunaSearch:
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
    uri = cfg.study_storage
    return NTMOptunaSearch(
        space,
        metric=METRIC,
        mode=MODE,
        sampler=sampler,
        storage=open_storage(uri) if uri is not None else None,
        study_name=cfg.experiment,
        points_to_evaluate=[dict(p) for p in space.start_points] or None,
        inject_nan=nan,
        trial_seed=cfg.seed,
    )


def trainable(cfg: SearchConfig, function: Any = train_ntm) -> Any:
    """``function`` (``train_ntm`` by default) with each trial's CPUs and GPUs."""
    return tune.with_resources(function, {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})


def checkpoints_to_keep(cfg: SearchConfig) -> int:
    """Enough that the checkpoint in Tune's experiment snapshot (written at least every 10 s,
    kept in step by Ray) is still on disk when the driver is killed between snapshots."""
    return max(4, math.ceil(40.0 / max(cfg.checkpoint_seconds, 1.0)))


def make_tracking(
    cfg: SearchConfig, endings: TrialEndings | None = None
) -> MlflowTrackingCallback | None:
    """The MLflow callback (``search.tracking.callback``), or None with ``--no-tracking``;
    ``endings`` tells it which trials the search's end cut."""
    if not cfg.tracking:
        return None
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "tracking"}
    uri = tracking_uri(cfg.tracking_uri)
    return make_tracking_callback(uri, str(cfg.experiment), params, endings=endings)


_PARAMETER_COLUMNS = {
    "model": "model",
    "lr": "lr",
    "batch_size": "batch",
    "controller_size": "ctrl",
    "memory_n": "N",
    "memory_m": "M",
    "curriculum": "curriculum",
}


def make_reporter(cfg: SearchConfig, space: SearchSpace) -> SearchReporter:
    """The progress table (``search.launch.reporter``) with the columns that matter: the
    running, paused and pending trials, then the finished ones best first. Of the parameters,
    those every trial of ``space`` has (Ray fails on a column a trial lacks)."""
    always = {p.name for p in space.params if not p.when}
    return SearchReporter(
        metric_columns={
            METRIC: METRIC,
            "max_level_reached": "level",
            "sequences": "seqs",
            "seq_per_sec": "seq/s",
            "status": "state",
            "training_iteration": "iter",
        },
        parameter_columns={k: v for k, v in _PARAMETER_COLUMNS.items() if k in always},
        max_report_frequency=10 if cfg.smoke_test else 30,
        max_progress_rows=cfg.top,
        print_intermediate_tables=True,  # not left to Tune's global verbosity at this call
    )


def restore_tuner(cfg: SearchConfig) -> tune.Tuner:
    """The Tuner of ``--resume``: Ray's saved experiment, unfinished and errored trials rerun."""
    return tune.Tuner.restore(
        cfg.experiment_path, trainable(cfg), resume_unfinished=True, resume_errored=True
    )


def tuner_endings(tuner: tune.Tuner) -> TrialEndings | None:
    """The ``TrialEndings`` among a Tuner's callbacks: the one it was built with, or for a
    restored Tuner the one unpickled with its run config (None for an experiment saved
    without one)."""
    local = tuner._local_tuner  # Ray 2.60's Tuner (None only through Ray Client)
    callbacks = (local.get_run_config().callbacks or []) if local is not None else []
    return next((c for c in callbacks if isinstance(c, TrialEndings)), None)


def _population_search(
    cfg: SearchConfig, pop: Population
) -> tuple[dict[str, Any], SearchAlgorithm]:
    """PBT/PB2's start: the population's domains, each trial's seed drawn by Ray's variant
    generator (seeded with --seed; an exploit copies the seed with the rest of the config)."""
    domains = {**pop.param_space, "seed": tune.randint(0, 2**31 - 1)}
    return domains, BasicVariantGenerator(random_state=cfg.seed)


def build_tuner(
    cfg: SearchConfig,
    space: SearchSpace,
    callback: MlflowTrackingCallback | None,
    endings: TrialEndings | None = None,
) -> tune.Tuner:
    """A new search's Tuner: every trial's fixed settings, and the space through Optuna with
    ASHA, or as a PBT/PB2 population. ``endings`` comes first among the callbacks, so that
    the MLflow callback's end of the experiment finds it complete."""
    pop = population(space) if cfg.population_based else None
    endings = endings if endings is not None else TrialEndings()
    scheduler = make_scheduler(
        cfg.scheduler,
        curriculum_grace=cfg.curriculum_grace_iterations,
        max_t=cfg.max_iterations,
        interval=cfg.perturbation if pop is not None else cfg.grace,
        reduction_factor=cfg.reduction_factor,
        population=pop,
    )
    fixed = {"task": space.task, "task_params": dict(space.task_params)}
    fixed |= trial_config(cfg.trial_settings())
    sampled: dict[str, Any] = {}
    search_alg: Searcher | SearchAlgorithm
    if pop is None:
        search_alg = make_searcher(cfg, space)
    else:
        sampled, search_alg = _population_search(cfg, pop)
    cluster_cpus = ray.cluster_resources().get("CPU", 0.0) if cfg.address else 0.0
    return tune.Tuner(
        trainable(cfg),
        param_space=fixed | sampled,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=cfg.num_samples,
            max_concurrent_trials=cfg.concurrency(cluster_cpus),
            time_budget_s=cfg.time_budget,
            trial_dirname_creator=lambda trial: str(trial.trial_id),
            reuse_actors=True,  # one worker process runs trial after trial: no re-import
        ),
        run_config=tune.RunConfig(
            name=cfg.experiment,
            storage_path=cfg.storage_path,
            callbacks=[endings] if callback is None else [endings, callback],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_to_keep(cfg)),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=1,
            progress_reporter=make_reporter(cfg, space),
        ),
    )
