from __future__ import annotations

import pickle

import pytest

from ntm.tasks import TASKS, CopyTask, NGramsTask, RepeatCopyTask, Task, TaskConfig, make_task
from tests.ntm.tasks.helpers import check_batch, seeded

NAMES = ["associative_recall", "copy", "ngrams", "priority_sort", "repeat_copy"]


@pytest.mark.parametrize("name", NAMES)
def test_every_task_builds_and_samples(name: str) -> None:
    task = make_task(name)
    # The registry builds a Task whose name is its registry key.
    assert isinstance(task, Task) and task.name == name
    # Its batches pass the shared checks at the top level and at an exact size.
    check_batch(task, task.sample(3, level=task.max_level, generator=seeded(0)), 3)
    check_batch(task, task.sample_exact(3, size=4, generator=seeded(0)), 3)
    # Tasks survive pickling (Ray ships them to workers).
    assert pickle.loads(pickle.dumps(task)) == task


@pytest.mark.parametrize("name", NAMES)
def test_report_sizes_are_exact_sizes_the_task_accepts(name: str) -> None:
    task = make_task(name)
    sizes = task.report_sizes()
    # Rule: sorted distinct sizes that include the target one (the sequence length for
    # N-grams, whose only level does not set a size; the target level for the others) ...
    assert sizes == sorted(set(sizes)) and len(sizes) >= 3
    target = task.length if isinstance(task, NGramsTask) else task.max_level
    assert target in sizes and max(sizes) > target
    # ... and every one samples at exactly that size.
    for size in sizes:
        check_batch(task, task.sample_exact(2, size=size, generator=seeded(size)), 2)


def test_registry_lists_the_five_tasks() -> None:
    # The five tasks of section 4, keyed by name.
    assert sorted(TASKS) == NAMES


def test_unknown_task_name() -> None:
    # An unknown name lists the valid ones.
    message = (
        "task must be one of ['associative_recall', 'copy', 'ngrams', 'priority_sort', "
        "'repeat_copy'], but got task='foo'."
    )
    with pytest.raises(ValueError) as info:
        make_task("foo")
    assert str(info.value) == message
    with pytest.raises(ValueError, match="but got task='foo'"):
        TaskConfig(name="foo")


def test_unknown_param_key() -> None:
    # An unknown parameter key lists the task's valid keys.
    message = (
        "params for task='copy' must use the keys ['bits', 'max_length', 'min_length'], "
        "but got unknown keys ['length']."
    )
    with pytest.raises(ValueError) as info:
        make_task("copy", length=5)
    assert str(info.value) == message
    with pytest.raises(ValueError, match="unknown keys"):
        TaskConfig(name="copy", params={"length": 5})


def test_bad_param_value_names_field() -> None:
    # Values are validated by the task itself.
    with pytest.raises(ValueError, match="max_length must be an int >= 1, but got max_length=0"):
        make_task("copy", max_length=0)


def test_task_config() -> None:
    params = {"max_length": 5}
    config = TaskConfig(name="copy", params=params)
    params["max_length"] = 50
    # The config keeps its own copy of params; the default is copy with default params.
    assert make_task(config) == CopyTask(max_length=5)
    assert make_task(TaskConfig()) == CopyTask()
    # Keyword params override the config's.
    assert make_task(config, max_length=7) == CopyTask(max_length=7)
    repeat = TaskConfig(name="repeat_copy", params={"max_repeats": 3})
    assert make_task(repeat) == RepeatCopyTask(max_repeats=3)
