"""The five tasks of Graves, Wayne & Danihelka 2014, section 4, and a registry to build them.

Example:
    >>> import torch
    >>> task = make_task(TaskConfig(name="copy", params={"max_length": 5}))
    >>> task.sample(2, level=5, generator=torch.Generator().manual_seed(0)).inputs.shape[2]
    9
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ntm.tasks.associative_recall import AssociativeRecallTask
from ntm.tasks.bars import BARS, SOLVED_BIT_ERRORS, Bar
from ntm.tasks.base import Batch, Task, task_scores
from ntm.tasks.copy import CopyTask
from ntm.tasks.ngrams import NGramsTask, bayes_optimal_cost
from ntm.tasks.priority_sort import PrioritySortTask
from ntm.tasks.repeat_copy import RepeatCopyTask

__all__ = [
    "BARS",
    "SOLVED_BIT_ERRORS",
    "TASKS",
    "AssociativeRecallTask",
    "Bar",
    "Batch",
    "CopyTask",
    "NGramsTask",
    "PrioritySortTask",
    "RepeatCopyTask",
    "Task",
    "TaskConfig",
    "bayes_optimal_cost",
    "make_task",
    "task_scores",
]

TASKS: dict[str, type] = {
    "associative_recall": AssociativeRecallTask,
    "copy": CopyTask,
    "ngrams": NGramsTask,
    "priority_sort": PrioritySortTask,
    "repeat_copy": RepeatCopyTask,
}


def _task_class(name: str) -> type:
    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, but got task={name!r}.")
    return TASKS[name]


def _check_param_keys(name: str, params: Mapping[str, Any]) -> None:
    valid = sorted(f.name for f in dataclasses.fields(_task_class(name)) if f.init)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"params for task={name!r} must use the keys {valid}, but got unknown keys {unknown}."
        )


@dataclass(frozen=True)
class TaskConfig:
    """Which task to train on and its parameters (e.g. ``{"min_length": 1, "max_length": 20}``).

    The task name and the parameter keys are checked here; the values are checked when
    ``make_task`` builds the task. ``params`` is copied into a plain dict.
    """

    name: str = "copy"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_param_keys(self.name, self.params)
        object.__setattr__(self, "params", dict(self.params))


def make_task(task: str | TaskConfig, /, **params: Any) -> Task:
    """Build a task from its name (or a ``TaskConfig``) and parameters.

    Keyword ``params`` override those of a ``TaskConfig``. An unknown name or parameter key
    raises ``ValueError`` listing the valid ones; bad values raise the task's own ``ValueError``.
    """
    if isinstance(task, TaskConfig):
        name, merged = task.name, {**task.params, **params}
    else:
        name, merged = task, params
    _check_param_keys(name, merged)
    built: Task = _task_class(name)(**merged)
    return built
