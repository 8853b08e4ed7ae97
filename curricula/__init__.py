"""Curricula for ntm-search: which difficulty level to train at next. Pure Python.

This package imports only the standard library (no torch, numpy, ray, optuna or mlflow),
so schedulers can be built and tested anywhere and their state travels as JSON.

Example:
    >>> import json, random
    >>> from curricula import CurriculumConfig, make_scheduler
    >>> cfg = CurriculumConfig(name="plateau", target_level=20, params={"patience": 2})
    >>> sched = make_scheduler(cfg)
    >>> rng = random.Random(0)
    >>> for step in range(4):
    ...     level = sched.next_level(rng)
    ...     sched.record_batch(level, 3.0)
    ...     decision = sched.observe(step, {"loss": 3.0, "bit_errors": 2.0, "sequences": 0})
    >>> decision.level, sched.history
    (2, [(2, 2)])
    >>> resumed = make_scheduler(cfg)
    >>> resumed.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    >>> resumed.level
    2
"""

from __future__ import annotations

from collections.abc import Mapping

from curricula.base import CurriculumConfig, Decision, Scheduler
from curricula.learning_progress import LearningProgressScheduler
from curricula.mixed import MixedScheduler
from curricula.none import NoneScheduler
from curricula.plateau import PlateauScheduler
from curricula.staged import CLASSIC_STAGES, StagedScheduler

__all__ = [
    "CLASSIC_STAGES",
    "SCHEDULERS",
    "CurriculumConfig",
    "Decision",
    "LearningProgressScheduler",
    "MixedScheduler",
    "NoneScheduler",
    "PlateauScheduler",
    "Scheduler",
    "StagedScheduler",
    "make_scheduler",
    "scheduler_param_names",
]

SCHEDULERS: Mapping[str, type[Scheduler]] = {
    cls.name: cls
    for cls in (
        LearningProgressScheduler,
        MixedScheduler,
        NoneScheduler,
        PlateauScheduler,
        StagedScheduler,
    )
}


def _scheduler_class(name: str) -> type[Scheduler]:
    """The class registered under ``name``."""
    cls = SCHEDULERS.get(name)
    if cls is None:
        raise ValueError(f"curriculum must be one of {sorted(SCHEDULERS)}, but got {name=}.")
    return cls


def scheduler_param_names(name: str) -> tuple[str, ...]:
    """The keys ``CurriculumConfig.params`` may hold for curriculum ``name``."""
    return _scheduler_class(name).param_names


def make_scheduler(config: CurriculumConfig) -> Scheduler:
    """Build the scheduler ``config`` names, checking every parameter.

    Unknown names and unknown keys in ``config.params`` raise a ``ValueError`` listing
    what is allowed.
    """
    cls = _scheduler_class(config.name)
    unknown = sorted(set(config.params) - set(cls.param_names), key=str)
    if unknown:
        raise ValueError(
            f"params of curriculum {cls.name!r} must use keys from {sorted(cls.param_names)}, "
            f"but got unknown key(s) {unknown}."
        )
    return cls(
        start_level=config.start_level,
        target_level=config.target_level,
        **dict(config.params),
    )
