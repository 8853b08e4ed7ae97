"""Scores of a model on one held batch, at the target level, a level or an exact size.

The one way the trainer (``Trainer.evaluate``), ``python -m ntm.evaluate`` and the
benchmarks draw and score an evaluation batch; each passes its own generator (its own seed),
so their numbers stay what they were.
"""

from __future__ import annotations

import torch

from ntm.baseline import Model
from ntm.tasks import Batch, RepeatCopyTask, Task, task_scores

__all__ = ["held_batch", "held_scores"]


def held_batch(
    task: Task,
    batch_size: int,
    generator: torch.Generator,
    *,
    size: int | None = None,
    level: int | None = None,
    repeats: int | None = None,
) -> Batch:
    """``batch_size`` sequences of exactly ``size`` if given, else sampled at ``level``
    (default the target, ``task.max_level``). ``repeats``: repeat copy's copies at an exact
    size (default its ``max_repeats``); other tasks ignore it."""
    if size is None:
        return task.sample(batch_size, level or task.max_level, generator)
    if isinstance(task, RepeatCopyTask):
        return task.sample_exact(batch_size, size, generator, repeats=repeats)
    return task.sample_exact(batch_size, size, generator)


@torch.no_grad()
def held_scores(
    model: Model,
    task: Task,
    batch_size: int,
    generator: torch.Generator,
    *,
    size: int | None = None,
    level: int | None = None,
    repeats: int | None = None,
) -> dict[str, float]:
    """``task_scores`` (loss, bit errors, the task's own scores, objective) of ``model`` on
    ``held_batch(task, batch_size, generator, ...)``, on the model's device."""
    device = next(model.parameters()).device
    batch = held_batch(task, batch_size, generator, size=size, level=level, repeats=repeats)
    batch = batch.to(device)
    logits, _, _ = model.forward_sequence(batch.inputs)  # [T, B, O]
    return task_scores(task, logits, batch)
