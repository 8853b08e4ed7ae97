from __future__ import annotations

import pytest
import torch

from ntm.tasks import PrioritySortTask, Task
from tests.ntm.tasks.helpers import check_batch, check_reproducible, seeded

BITS = 8


def test_implements_protocol_with_documented_sizes() -> None:
    task = PrioritySortTask()
    # The class satisfies the Task protocol.
    assert isinstance(task, Task)
    # Inputs: bits + priority + delimiter; outputs: bits; max level = num_inputs.
    assert (task.name, task.input_size, task.output_size, task.max_level) == (
        "priority_sort",
        10,
        8,
        20,
    )


def test_exact_layout_of_two_inputs() -> None:
    task = PrioritySortTask(bits=2, num_inputs=2, num_outputs=2)
    batch = task.sample_exact(1, size=2, generator=seeded(0))
    (p0, p1), x = batch.inputs[:2, 0, 2].tolist(), batch.inputs[:2, 0, :2]
    expected_targets = torch.zeros(5, 1, 2)
    expected_targets[3:, 0] = x if p0 > p1 else x.flip(0)
    # T = N + 1 + K = 5: two (vector, priority) steps, the delimiter, two sorted outputs.
    assert batch.inputs[2, 0].tolist() == [0, 0, 0, 1] and not batch.inputs[3:].any()
    assert torch.equal(batch.targets, expected_targets)
    assert batch.mask[:, 0].tolist() == [0, 0, 0, 1, 1]


def test_targets_are_top_k_by_descending_priority() -> None:
    task = PrioritySortTask()
    batch = task.sample(16, level=20, generator=seeded(1))
    check_batch(task, batch, 16)
    # Paper sizes: 20 inputs, 1 delimiter, 16 scored outputs.
    assert batch.lengths.tolist() == [37] * 16
    assert batch.mask.sum(0).tolist() == [16.0] * 16
    priorities = batch.inputs[:20, :, BITS]
    # Priorities are uniform in [-1, 1] and spread over it.
    assert priorities.min() >= -1 and priorities.max() <= 1
    assert priorities.min() < -0.9 and priorities.max() > 0.9
    # The delimiter fires once, at step 20.
    assert batch.inputs[:, :, BITS + 1].nonzero()[:, 0].unique().tolist() == [20]
    for b in range(16):
        ranked = sorted(range(20), key=lambda i: -float(priorities[i, b]))[:16]
        expected = batch.inputs[ranked, b, :BITS]
        # Targets are the 16 highest-priority vectors in descending priority order.
        assert torch.equal(batch.targets[21:, b], expected)


@pytest.mark.parametrize(
    ("num_inputs", "num_outputs", "size", "outputs"),
    [
        (20, 16, 20, 16),
        (20, 16, 10, 8),
        (20, 16, 13, 10),  # 10.4 rounds down
        (20, 16, 1, 1),  # 0.8 rounds up
        (20, 1, 5, 1),  # 0.25 is raised to the minimum of 1
        (4, 2, 5, 3),  # 2.5 rounds half up
        (4, 2, 40, 20),  # beyond max_level for generalisation
    ],
)
def test_level_scaling(num_inputs: int, num_outputs: int, size: int, outputs: int) -> None:
    task = PrioritySortTask(bits=2, num_inputs=num_inputs, num_outputs=num_outputs)
    batch = task.sample(2, level=size, generator=seeded(0))
    # Level L gives L inputs and round-half-up(L * num_outputs / num_inputs) >= 1 outputs.
    assert task.outputs_for(size) == outputs
    assert batch.lengths.tolist() == [size + 1 + outputs] * 2
    assert batch.mask.sum(0).tolist() == [float(outputs)] * 2
    assert task.describe_level(size) == f"inputs {size}, outputs {outputs}"
    # sample_exact(size) is the same draw as sample(level=size).
    exact = task.sample_exact(2, size=size, generator=seeded(0))
    assert torch.equal(exact.inputs, batch.inputs)


def test_reproducible() -> None:
    task = PrioritySortTask()
    check_reproducible(lambda g: task.sample(8, level=20, generator=g))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bits": 0}, "bits must be an int >= 1, but got bits=0"),
        ({"num_inputs": 0}, "num_inputs must be an int >= 1, but got num_inputs=0"),
        ({"num_outputs": 0}, "num_outputs must be an int >= 1, but got num_outputs=0"),
        ({"num_inputs": 3, "num_outputs": 4}, "num_outputs must be <= num_inputs"),
    ],
)
def test_bad_params(params: dict[str, int], message: str) -> None:
    # Invalid parameters raise ValueError naming the field and value.
    with pytest.raises(ValueError, match=message):
        PrioritySortTask(**params)
