"""Ray's flat trial ``config`` dict -> ``RunConfig``: the only place this conversion happens.

The keys are those of ``search.trial.keys``: unknown keys are an error listing the valid
ones, curriculum parameters go to ``CurriculumConfig.params`` and must belong to the chosen
curriculum, and the fixed settings (``TrialSettings``) become the run's limits.

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

from curricula import CurriculumConfig, scheduler_param_names
from ntm.config import NTMConfig
from ntm.errors import require
from ntm.tasks import TaskConfig
from ntm.train_config import RunConfig, TrainConfig
from search.trial.keys import (
    CURRICULUM_PARAM_KEYS,
    MODEL_KEYS,
    TRAIN_KEYS,
    TRIAL_KEYS,
    TrialSettings,
)

__all__ = ["report_every_for", "run_config_from_trial", "settings_from_trial"]


def report_every_for(report_sequences: int, batch_size: int) -> int:
    """Steps per report so that one report covers ``report_sequences`` sequences."""
    return max(1, math.ceil(report_sequences / batch_size))


def settings_from_trial(config: Mapping[str, Any]) -> TrialSettings:
    """The ``TrialSettings`` keys of a trial config (the dataclass's defaults for the others)."""
    names = {f.name for f in dataclasses.fields(TrialSettings)}
    return TrialSettings(**{k: v for k, v in config.items() if k in names})


def _curriculum(config: Mapping[str, Any]) -> CurriculumConfig:
    name = str(config.get("curriculum", CurriculumConfig.name))
    params = {k: config[k] for k in CURRICULUM_PARAM_KEYS if k in config}
    allowed = scheduler_param_names(name)
    foreign = sorted(set(params) - set(allowed))
    require(
        not foreign,
        f"curriculum {name!r} takes the parameters {sorted(allowed)}, "
        f"but the trial config also sets {foreign}.",
    )
    start_level = int(config.get("start_level", CurriculumConfig.start_level))
    return CurriculumConfig(name=name, start_level=start_level, params=params)


def _train(config: Mapping[str, Any], settings: TrialSettings, device: str) -> TrainConfig:
    batch_size = int(config.get("batch_size", TrainConfig.batch_size))
    report_every = report_every_for(settings.report_sequences, batch_size)
    return TrainConfig(
        **{k: config[k] for k in TRAIN_KEYS if k in config},
        steps=settings.max_reports * report_every,
        max_seconds=settings.max_seconds,
        report_every=report_every,
        eval_every=report_every,
        eval_batch=settings.eval_batch,
        stop_bit_errors=settings.stop_bit_errors,
        solved_reports=settings.solved_reports,
        seed=settings.seed,
        threads=settings.threads,
        device=device,
        inject_nan_at_step=settings.inject_nan_at_step,
    )


def run_config_from_trial(config: Mapping[str, Any], *, device: str = "cpu") -> RunConfig:
    """Build the frozen ``RunConfig`` of one trial; unknown keys are an error listing valid ones."""
    unknown = sorted(set(config) - TRIAL_KEYS)
    require(
        not unknown, f"unknown trial config key(s) {unknown}; valid keys are {sorted(TRIAL_KEYS)}."
    )
    return RunConfig(
        task=TaskConfig(
            name=str(config.get("task", TaskConfig.name)), params=config.get("task_params") or {}
        ),
        model=NTMConfig(**{k: config[k] for k in MODEL_KEYS if k in config}),
        curriculum=_curriculum(config),
        train=_train(config, settings_from_trial(config), device),
    )
