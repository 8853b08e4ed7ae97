"""Ray's flat trial ``config`` dict -> ``RunConfig``. The only place this conversion happens.

A trial config holds the keys sampled from a space file (``SEARCHABLE_KEYS``) plus the
keys that ``search/run.py`` fixes for every trial (``FIXED_KEYS``):

- ``task``, ``task_params``: the task and its parameters (from the space file);
- ``seed``, ``threads`` (torch threads = CPUs per trial), ``inject_nan_at_step``;
- ``report_sequences``: training sequences per report. ``report_every`` (steps) is
  ``ceil(report_sequences / batch_size)``, so one report, one ASHA "iteration", is the same
  amount of data for every batch size; every report is also an evaluation report;
- ``max_reports``: the trial's step limit is ``max_reports * report_every``;
- ``max_seconds``: the trial's training-time cap (0 = none); ``stop_bit_errors``: a trial
  stops early, completed, once the evaluation at the target level is below this (None =
  never); ``eval_batch``: sequences in the fixed evaluation batch;
- ``checkpoint_seconds``: a trial checkpoints at most this often (and at its last report);
  read by the trainable, not part of the RunConfig.

Example:
    >>> cfg = run_config_from_trial({"task": "copy", "task_params": {"max_length": 5},
    ...     "lr": 3e-3, "batch_size": 16, "curriculum": "plateau", "patience": 3,
    ...     "report_sequences": 320, "max_reports": 10})
    >>> cfg.train.report_every, cfg.train.steps, dict(cfg.curriculum.params)
    (20, 200, {'patience': 3})
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from curricula import SCHEDULERS, CurriculumConfig, scheduler_param_names
from ntm.config import NTMConfig
from ntm.tasks import TaskConfig
from ntm.train_config import RunConfig, TrainConfig

# Model keys: every NTMConfig field except the widths the task decides.
MODEL_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(NTMConfig) if f.name not in ("input_size", "output_size")
)
# TrainConfig fields that belong to the run, not to the search space.
_RUN_TRAIN_FIELDS = frozenset(
    {
        "steps",
        "max_seconds",
        "report_every",
        "eval_every",
        "eval_batch",
        "stop_bit_errors",
        "seed",
        "threads",
        "device",
        "inject_nan_at_step",
    }
)
# Optimisation keys a space may sample (lr, optimizer, momentum, batch_size, clip, ...;
# new TrainConfig fields such as ``engine`` join automatically).
TRAIN_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(TrainConfig) if f.name not in _RUN_TRAIN_FIELDS
)
CURRICULUM_PARAM_KEYS: tuple[str, ...] = tuple(
    sorted({p for name in SCHEDULERS for p in scheduler_param_names(name)})
)
SEARCHABLE_KEYS: tuple[str, ...] = (
    *MODEL_KEYS,
    *TRAIN_KEYS,
    "curriculum",
    "start_level",
    *CURRICULUM_PARAM_KEYS,
)
FIXED_KEYS: tuple[str, ...] = (
    "task",
    "task_params",
    "seed",
    "threads",
    "report_sequences",
    "max_reports",
    "max_seconds",
    "stop_bit_errors",
    "eval_batch",
    "inject_nan_at_step",
    "checkpoint_seconds",
)
TRIAL_KEYS: frozenset[str] = frozenset(SEARCHABLE_KEYS) | frozenset(FIXED_KEYS)

__all__ = [
    "CURRICULUM_PARAM_KEYS",
    "FIXED_KEYS",
    "MODEL_KEYS",
    "SEARCHABLE_KEYS",
    "TRAIN_KEYS",
    "TRIAL_KEYS",
    "report_every_for",
    "run_config_from_trial",
]


def report_every_for(report_sequences: int, batch_size: int) -> int:
    """Steps per report so that one report covers ``report_sequences`` sequences."""
    return max(1, math.ceil(report_sequences / batch_size))


def run_config_from_trial(config: Mapping[str, Any], *, device: str = "cpu") -> RunConfig:
    """Build the frozen ``RunConfig`` of one trial; unknown keys are an error listing valid ones.

    Curriculum parameters go to ``CurriculumConfig.params`` and must belong to the chosen
    curriculum (``curricula.scheduler_param_names``).
    """
    unknown = sorted(set(config) - TRIAL_KEYS)
    if unknown:
        raise ValueError(
            f"unknown trial config key(s) {unknown}; valid keys are {sorted(TRIAL_KEYS)}."
        )
    curriculum_name = str(config.get("curriculum", "none"))
    curriculum_params = {k: config[k] for k in CURRICULUM_PARAM_KEYS if k in config}
    allowed = scheduler_param_names(curriculum_name)
    foreign = sorted(set(curriculum_params) - set(allowed))
    if foreign:
        raise ValueError(
            f"curriculum {curriculum_name!r} takes the parameters {sorted(allowed)}, "
            f"but the trial config also sets {foreign}."
        )
    defaults = TrainConfig()
    batch_size = int(config.get("batch_size", defaults.batch_size))
    report_every = report_every_for(int(config.get("report_sequences", 1024)), batch_size)
    train = TrainConfig(
        **{k: config[k] for k in TRAIN_KEYS if k in config},
        steps=int(config.get("max_reports", 100)) * report_every,
        max_seconds=float(config.get("max_seconds", 0.0)),
        report_every=report_every,
        eval_every=report_every,
        eval_batch=int(config.get("eval_batch", defaults.eval_batch)),
        stop_bit_errors=config.get("stop_bit_errors"),
        seed=int(config.get("seed", 0)),
        threads=int(config.get("threads", 1)),
        device=device,
        inject_nan_at_step=config.get("inject_nan_at_step"),
    )
    return RunConfig(
        task=TaskConfig(
            name=str(config.get("task", "copy")), params=config.get("task_params") or {}
        ),
        model=NTMConfig(**{k: config[k] for k in MODEL_KEYS if k in config}),
        curriculum=CurriculumConfig(
            name=curriculum_name,
            start_level=int(config.get("start_level", 1)),
            params=curriculum_params,
        ),
        train=train,
    )
