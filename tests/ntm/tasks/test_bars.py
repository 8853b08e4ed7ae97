"""ntm.tasks.bars: one bar per task, on the scores one evaluation reports."""

from __future__ import annotations

import doctest

import torch

from ntm.tasks import BARS, SOLVED_BIT_ERRORS, TASKS, Bar, make_task, task_scores
from ntm.tasks import bars as bars_module


def test_every_task_has_a_bar() -> None:
    # rule: each task's bar lives with the tasks, one per task and no other
    assert set(BARS) == set(TASKS)
    assert BARS["copy"] == BARS["associative_recall"] == Bar(SOLVED_BIT_ERRORS)


def test_a_bar_reads_the_scores_an_evaluation_reports() -> None:
    # rule: a bar is passed by task_scores' output: objective under the bar, extras at least
    # their minimum (repeat copy's marker accuracy is one of its scores)
    for name in TASKS:
        task = make_task(name)
        batch = task.sample(level=1, batch_size=2, generator=torch.Generator().manual_seed(0))
        scores = task_scores(task, torch.zeros(batch.targets.shape), batch)
        assert isinstance(BARS[name].passed(scores), bool)
    assert not Bar(0.1).passed({"objective": 0.1})  # under, not at
    assert Bar(0.1).passed({"objective": 0.0})


def test_docstring_examples_run() -> None:
    # the examples in the module docstring are correct
    assert doctest.testmod(bars_module).failed == 0
