"""How a run is built from its config: ``build_run(config)``, the one factory behind
``Trainer``, ``ntm.load`` and the search's space validation.

It fills in what the task decides (the model's input and output widths, the curriculum's
target level and a start level capped by it), then builds the task, the model and the
curriculum scheduler. A config that cannot be built raises the ``ValueError`` (or
``TypeError``) of the part that refused it, naming the field.

Example:
    >>> from ntm.tasks import TaskConfig
    >>> run = build_run(RunConfig(task=TaskConfig("copy", {"max_length": 5})))
    >>> run.config.model.input_size, run.config.curriculum.target_level, run.task.max_level
    (9, 5, 5)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import torch

from curricula import Scheduler, make_scheduler
from ntm.baseline import Model, make_model
from ntm.tasks import Task, make_task
from ntm.train_config import RunConfig, TrainConfig

__all__ = ["BuiltRun", "build_run", "make_optimizer", "resolve", "retune"]


class BuiltRun(NamedTuple):
    """A run's parts, built from its resolved config (model on the CPU, freshly initialised)."""

    config: RunConfig
    task: Task
    model: Model  # an NTM, or the LSTM baseline (model='lstm')
    scheduler: Scheduler


def resolve(config: RunConfig) -> tuple[RunConfig, Task]:
    """Fill in what the task decides: model input/output widths and the curriculum target."""
    task = make_task(config.task)
    model = dataclasses.replace(
        config.model, input_size=task.input_size, output_size=task.output_size
    )
    start = min(config.curriculum.start_level, task.max_level)
    curriculum = dataclasses.replace(
        config.curriculum, start_level=start, target_level=task.max_level
    )
    return dataclasses.replace(config, model=model, curriculum=curriculum), task


def build_run(config: RunConfig) -> BuiltRun:
    """The resolved config, its task, a new model and the curriculum scheduler."""
    resolved, task = resolve(config)
    return BuiltRun(resolved, task, make_model(resolved.model), make_scheduler(resolved.curriculum))


def retune(
    config: RunConfig,
    scheduler: Scheduler,
    *,
    lr: float | None = None,
    curriculum_params: Mapping[str, Any] | None = None,
) -> tuple[RunConfig, Scheduler]:
    """``config`` with a new ``lr`` and curriculum parameters (others keep their values), and
    a scheduler rebuilt from it that carries ``scheduler``'s state (level, best loss,
    counters), so the new parameters rule from the next report on. A value the config refuses
    raises its ValueError."""
    train, curriculum = config.train, config.curriculum
    if lr is not None:
        train = dataclasses.replace(train, lr=float(lr))
    if curriculum_params:
        params = {**curriculum.params, **curriculum_params}
        curriculum = dataclasses.replace(curriculum, params=params)
    rebuilt = make_scheduler(curriculum)  # checks the parameters
    rebuilt.load_state_dict(scheduler.state_dict())
    return dataclasses.replace(config, train=train, curriculum=curriculum), rebuilt


def make_optimizer(
    train: TrainConfig, params: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """``adam`` or ``rmsprop`` (with ``momentum``, ``rmsprop_alpha``, ``rmsprop_centered``)
    at ``lr``."""
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=train.lr)
    return torch.optim.RMSprop(
        params,
        lr=train.lr,
        alpha=train.rmsprop_alpha,
        momentum=train.momentum,
        centered=train.rmsprop_centered,
    )
