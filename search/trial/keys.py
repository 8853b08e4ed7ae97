"""The keys of a trial's flat Ray ``config``, derived here and nowhere else.

A trial config holds the keys sampled from a space file (``SEARCHABLE_KEYS``: model fields,
optimisation fields, the curriculum and its parameters), the task and its parameters (from
the space file), and the settings that one search fixes for every trial: the fields of
``TrialSettings``. ``FIXED_KEYS`` and ``TRIAL_KEYS`` are derived from those.

Example:
    >>> trial_config(TrialSettings(seed=3))["seed"], "inject_nan_at_step" in FIXED_KEYS
    (3, True)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from curricula import SCHEDULERS, scheduler_param_names
from ntm.config import NTMConfig
from ntm.train_config import TrainConfig


@dataclass(frozen=True)
class TrialSettings:
    """What a search fixes for all its trials (``SearchConfig.trial_settings()``).

    seed: model, data and curriculum seed; threads: torch threads (= CPUs per trial).
    report_sequences: training sequences per report; ``report_every`` (steps) is
        ``ceil(report_sequences / batch_size)``, so one report, one ASHA "iteration", is
        the same amount of data for every batch size; every report is an evaluation report.
    max_reports: the trial's step limit is ``max_reports * report_every``.
    max_seconds: training-time cap (0 = none). stop_bit_errors / solved_reports: the trial
        stops, completed, once its objective at the target level has been below
        ``stop_bit_errors`` for ``solved_reports`` reports in a row (``ntm.stopping``).
    eval_batch: sequences in the fixed evaluation batch.
    inject_nan_at_step: fault injection, set per trial by the searcher (None = none).
    checkpoint_seconds: a trial checkpoints at most this often (and at its last report);
        read by the trainable, not part of the RunConfig.
    checkpoint_every: a trial also checkpoints at every report whose number is a multiple of
        this (0 = never): PBT/PB2 set their perturbation interval, so that each perturbation
        finds the trial's checkpoint of that very report.
    """

    seed: int = 0
    threads: int = 1
    report_sequences: int = 1024
    max_reports: int = 100
    max_seconds: float = 0.0
    stop_bit_errors: float | None = None
    solved_reports: int = 3  # one lucky evaluation is not a solution
    eval_batch: int = TrainConfig.eval_batch
    inject_nan_at_step: int | None = None
    checkpoint_seconds: float = 0.0
    checkpoint_every: int = 0


# Model keys: every NTMConfig field except the widths the task decides.
MODEL_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(NTMConfig) if f.name not in ("input_size", "output_size")
)
# TrainConfig fields that the run decides (from TrialSettings), not the search space.
RUN_TRAIN_FIELDS = frozenset(
    {"steps", "report_every", "eval_every", "device"}
    | ({f.name for f in dataclasses.fields(TrialSettings)} & set(TrainConfig.__dataclass_fields__))
)
# Optimisation keys a space may sample (lr, optimizer, momentum, batch_size, clip, ...;
# new TrainConfig fields such as ``engine`` join automatically).
TRAIN_KEYS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(TrainConfig) if f.name not in RUN_TRAIN_FIELDS
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
    *(f.name for f in dataclasses.fields(TrialSettings)),
)
TRIAL_KEYS: frozenset[str] = frozenset(SEARCHABLE_KEYS) | frozenset(FIXED_KEYS)

__all__ = [
    "CURRICULUM_PARAM_KEYS",
    "FIXED_KEYS",
    "MODEL_KEYS",
    "RUN_TRAIN_FIELDS",
    "SEARCHABLE_KEYS",
    "TRAIN_KEYS",
    "TRIAL_KEYS",
    "TrialSettings",
    "trial_config",
]


def trial_config(settings: TrialSettings) -> dict[str, Any]:
    """The settings as trial config keys; a None value is left out (None is its default, and
    ``inject_nan_at_step`` is the searcher's to set per trial)."""
    return {k: v for k, v in dataclasses.asdict(settings).items() if v is not None}
