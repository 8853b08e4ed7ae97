"""``SearchConfig``: everything one search needs, built once from the command line.

Also the smoke test's tiny model, and the space a search uses (``load_search_space``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ntm.cli import UsageError
from ntm.tasks import TASKS
from search.space import SearchSpace, default_space_path, load_space

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
