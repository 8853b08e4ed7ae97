"""``SearchConfig``: everything one search needs, built once from the command line and passed
down; its settings for every trial (``trial_settings``) and its space (``load_search_space``,
with the smoke test's tiny model fixed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ntm.cli import UsageError
from ntm.errors import require
from ntm.tasks import TASKS
from search.cluster.storage import DEFAULT_STORAGE_PATH, is_uri
from search.launch.schedulers import POPULATION_SCHEDULERS, check_scheduler
from search.space.format import SearchSpace
from search.space.load import load_space, search_space_path
from search.space.study import default_study_storage
from search.space.validate import validate_space
from search.trial.keys import TrialSettings

__all__ = ["SMOKE_MODEL", "SMOKE_TASK_PARAMS", "SearchConfig", "load_search_space"]

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


def _need(ok: bool, message: str) -> None:
    require(ok, message, error=UsageError)


@dataclass(frozen=True)
class SearchConfig:
    """Everything one search needs, built once from the command line.

    ``storage_path`` is resolved by the entry point (``search.cluster.storage``): an absolute
    local path or a URI. ``experiment`` is set by then too.
    """

    task: str | None = None
    space: str | None = None
    num_samples: int = 64
    time_budget: float = 840.0
    max_iterations: int = TrialSettings.max_reports
    report_sequences: int = TrialSettings.report_sequences
    trial_seconds: float = 360.0
    stop_bit_errors: float | None = 0.01
    eval_batch: int = TrialSettings.eval_batch
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    grace_period: int | None = None
    curriculum_grace: int | None = None
    reduction_factor: float = 3.0
    checkpoint_seconds: float = 10.0
    experiment: str | None = None
    storage_path: str = DEFAULT_STORAGE_PATH
    shared_storage: bool = False
    resume: bool = False
    seed: int = TrialSettings.seed
    smoke_test: bool = False
    address: str | None = None
    inject_nan_at_step: int | None = None
    inject_nan_trials: int = 1
    tracking_uri: str | None = None
    tracking: bool = True
    top: int = 10
    optuna_storage: str | None = None
    max_concurrent: int | None = None
    confirm_top: int = 0
    confirm_seeds: int = 3
    scheduler: str = "asha"
    perturbation_interval: int | None = None

    def __post_init__(self) -> None:
        check_scheduler(self.scheduler)
        _need(
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
            _need(value >= 1, f"{flag} must be >= 1, but got {value}")
        _need(self.time_budget > 0, f"--time-budget must be > 0 s, but got {self.time_budget}")
        _need(self.trial_seconds >= 0, f"--trial-seconds must be >= 0, got {self.trial_seconds}")
        _need(self.cpus_per_trial > 0, f"--cpus-per-trial must be > 0, got {self.cpus_per_trial}")
        _need(self.gpus_per_trial >= 0, f"--gpus-per-trial must be >= 0, got {self.gpus_per_trial}")
        _need(
            self.gpus_per_trial <= 1 or self.gpus_per_trial == int(self.gpus_per_trial),
            f"--gpus-per-trial above 1 must be a whole number, but got {self.gpus_per_trial}",
        )
        _need(
            self.reduction_factor > 1,
            f"--reduction-factor must be > 1, but got {self.reduction_factor}",
        )
        _need(
            self.grace_period is None or 1 <= self.grace_period <= self.max_iterations,
            f"--grace-period must be in [1, --max-iterations], but got {self.grace_period}",
        )
        _need(
            self.curriculum_grace is None or self.curriculum_grace >= 1,
            f"--curriculum-grace must be >= 1, but got {self.curriculum_grace}",
        )
        _need(
            self.inject_nan_at_step is None or self.inject_nan_at_step >= 1,
            f"--inject-nan-at-step must be >= 1, but got {self.inject_nan_at_step}",
        )
        _need(
            self.experiment is None
            or ("/" not in self.experiment and bool(self.experiment.strip())),
            f"--experiment must be a plain name, but got {self.experiment!r}",
        )
        _need(not self.resume or bool(self.experiment), "--resume needs --experiment NAME")
        _need(self.confirm_top >= 0, f"--confirm-top must be >= 0, but got {self.confirm_top}")
        _need(self.confirm_seeds >= 1, f"--confirm-seeds must be >= 1, got {self.confirm_seeds}")
        _need(
            not self.confirm_top or not is_uri(self.storage_path),  # re-runs read params.json
            f"--confirm-top needs a local --storage-path, but got {self.storage_path!r}",
        )
        _need(
            self.perturbation_interval is None
            or 1 <= self.perturbation_interval <= self.max_iterations,
            "--perturbation-interval must be in [1, --max-iterations], "
            f"but got {self.perturbation_interval}",
        )
        _need(
            not (self.confirm_top and self.population_based),
            f"--confirm-top re-trains a configuration from scratch and cannot replay a "
            f"--scheduler {self.scheduler} schedule; use --scheduler asha",
        )
        _need(
            self.max_concurrent is None or self.max_concurrent >= 1,
            f"--max-concurrent must be >= 1, but got {self.max_concurrent}",
        )
        _need(
            self.optuna_storage is None or "://" in self.optuna_storage,
            "--optuna-storage must be a database URI such as sqlite:///PATH or "
            f"postgresql://HOST/DB, but got {self.optuna_storage!r}",
        )

    @property
    def grace(self) -> int:
        """ASHA's grace period: 10% of the iterations, at least 1, at most 10."""
        if self.grace_period is not None:
            return self.grace_period
        return max(1, min(10, self.max_iterations // 10))

    @property
    def population_based(self) -> bool:
        """--scheduler pbt or pb2: a population, no searcher (``search.launch.schedulers``)."""
        return self.scheduler in POPULATION_SCHEDULERS

    @property
    def perturbation(self) -> int:
        """PBT/PB2's perturbation interval in iterations: --perturbation-interval, else the
        ASHA grace period's rule (10% of the iterations, 1 to 10)."""
        return self.perturbation_interval or self.grace

    @property
    def curriculum_grace_iterations(self) -> int:
        """How long ASHA leaves a climbing curriculum trial unjudged (``search.launch.asha``):
        --curriculum-grace, else 3 x the grace period; at most --max-iterations."""
        grace = self.curriculum_grace or 3 * self.grace
        return min(grace, self.max_iterations)

    @property
    def experiment_path(self) -> str:
        """``STORAGE_PATH/EXPERIMENT``, where Ray keeps the experiment."""
        return f"{self.storage_path}/{self.experiment}"

    def concurrency(self, cluster_cpus: float) -> int | None:
        """Ray's ``max_concurrent_trials``: --max-concurrent; else, on a cluster (--address),
        its CPUs (``cluster_cpus``, when the search starts) over --cpus-per-trial, at least 1,
        so that Ray keeps that many trials pending and the autoscaler sees the demand (with a
        searcher and no limit Ray keeps one); else None (locally: as many as the CPUs fit)."""
        if self.max_concurrent is not None or not self.address:
            return self.max_concurrent
        return max(1, math.floor(cluster_cpus / self.cpus_per_trial))

    @property
    def study_storage(self) -> str | None:
        """The Optuna study's RDB URI (``search.space.study``): --optuna-storage, else the
        experiment directory's sqlite file; None for a remote --storage-path without it."""
        return self.optuna_storage or default_study_storage(self.experiment_path)

    def trial_settings(self) -> TrialSettings:
        """What every trial of this search shares (``search.trial.keys``)."""
        return TrialSettings(
            seed=self.seed,
            threads=max(1, math.floor(self.cpus_per_trial)),
            report_sequences=self.report_sequences,
            max_reports=self.max_iterations,
            max_seconds=self.trial_seconds,
            stop_bit_errors=self.stop_bit_errors,
            eval_batch=self.eval_batch,
            checkpoint_seconds=self.checkpoint_seconds,
            checkpoint_every=self.perturbation if self.population_based else 0,
        )


def load_search_space(cfg: SearchConfig) -> SearchSpace:
    """The validated space (smoke test: with the tiny model fixed); UsageError if unusable."""
    path = search_space_path(cfg.space, cfg.task)
    space = load_space(path, settings=cfg.trial_settings())
    _need(
        cfg.task is None or space.task == cfg.task,
        f"--task {cfg.task} does not match the space {path} (task {space.task})",
    )
    if cfg.smoke_test:
        task_params = SMOKE_TASK_PARAMS.get(space.task)
        space = space.with_fixed(SMOKE_MODEL, task_params=task_params)
        validate_space(space, cfg.trial_settings())
    return space
