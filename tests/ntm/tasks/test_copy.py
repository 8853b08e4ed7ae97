from __future__ import annotations

import pytest
import torch

from ntm.tasks import CopyTask, Task
from tests.ntm.tasks.helpers import check_batch, check_reproducible, seeded


def test_implements_protocol_with_documented_sizes() -> None:
    task = CopyTask(bits=8, min_length=1, max_length=20)
    # The class satisfies the runtime-checkable Task protocol.
    assert isinstance(task, Task)
    # Input = bits + delimiter, output = bits, max level = max_length.
    assert (task.name, task.input_size, task.output_size, task.max_level) == ("copy", 9, 8, 20)


def test_exact_layout_of_one_sequence() -> None:
    task = CopyTask(bits=3)
    batch = task.sample_exact(1, size=2, generator=seeded(0))
    x = batch.inputs[:2, 0, :3]  # the two random vectors
    expected_inputs = torch.zeros(5, 1, 4)
    expected_inputs[:2, 0, :3] = x
    expected_inputs[2, 0, 3] = 1.0
    expected_targets = torch.zeros(5, 1, 3)
    expected_targets[3:, 0] = x
    # T = 2n + 1: vectors, delimiter, then the vectors again as targets on the last n steps.
    assert torch.equal(batch.inputs, expected_inputs)
    assert torch.equal(batch.targets, expected_targets)
    assert torch.equal(batch.mask, torch.tensor([[0.0], [0.0], [0.0], [1.0], [1.0]]))
    assert batch.lengths.tolist() == [5]


def test_targets_copy_inputs_and_mask_counts() -> None:
    task = CopyTask()
    batch = task.sample(16, level=20, generator=seeded(1))
    check_batch(task, batch, 16)
    n = (batch.lengths - 1) // 2
    # Mask counts: n scored steps per sequence.
    assert torch.equal(batch.mask.sum(0), n.float())
    for b, nb in enumerate(n.tolist()):
        # The delimiter fires once, at step n.
        assert batch.inputs[:, b, 8].nonzero().flatten().tolist() == [nb]
        # The target of steps n+1..2n is the input vectors of steps 0..n-1.
        assert torch.equal(batch.targets[nb + 1 : 2 * nb + 1, b], batch.inputs[:nb, b, :8])
        # No input during the output phase.
        assert not batch.inputs[nb + 1 :, b].any()


def test_level_ranges() -> None:
    task = CopyTask(min_length=1, max_length=20)
    n = (task.sample(256, level=5, generator=seeded(2)).lengths - 1) // 2
    # Level 5 draws lengths from 1..5 and, with 256 draws, hits both ends.
    assert int(n.min()) == 1 and int(n.max()) == 5
    clipped = CopyTask(min_length=3, max_length=20)
    n = (clipped.sample(32, level=1, generator=seeded(2)).lengths - 1) // 2
    # A level below min_length is clipped up to min_length.
    assert n.tolist() == [3] * 32
    # describe_level reports the same ranges.
    assert task.describe_level(5) == "length 1-5"
    assert clipped.describe_level(1) == "length 3-3"
    # sample_exact fixes every length, even beyond max_length.
    exact = task.sample_exact(4, size=30, generator=seeded(3))
    assert exact.lengths.tolist() == [61] * 4


def test_reproducible() -> None:
    task = CopyTask()
    check_reproducible(lambda g: task.sample(8, level=10, generator=g))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bits": 0}, "bits must be an int >= 1, but got bits=0."),
        ({"min_length": 0}, "min_length must be an int >= 1"),
        ({"max_length": 2.5}, "max_length must be an int >= 1, but got max_length=2.5."),
        ({"min_length": 5, "max_length": 4}, "min_length must be <= max_length, but got"),
        ({"bits": True}, "bits must be an int"),
    ],
)
def test_bad_params(params: dict[str, object], message: str) -> None:
    # Invalid parameters raise ValueError naming the field, the value and what is allowed.
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        CopyTask(**params)  # type: ignore[arg-type]


def test_bad_sampling_arguments() -> None:
    task = CopyTask()
    # level, size and batch_size must be positive ints.
    with pytest.raises(ValueError, match="level must be an int >= 1, but got level=0"):
        task.sample(2, level=0, generator=seeded(0))
    with pytest.raises(ValueError, match="size must be an int >= 1"):
        task.sample_exact(2, size=0, generator=seeded(0))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        task.sample(0, level=1, generator=seeded(0))
