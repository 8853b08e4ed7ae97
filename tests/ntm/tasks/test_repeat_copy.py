from __future__ import annotations

import pytest
import torch

from ntm.tasks import RepeatCopyTask, Task
from tests.ntm.tasks.helpers import check_batch, check_reproducible, seeded

BITS = 8


def _length_and_repeats(batch_inputs: torch.Tensor, b: int, max_repeats: int) -> tuple[int, int]:
    """Read n (the delimiter step) and r (the repeat channel) back from the inputs."""
    n = int(batch_inputs[:, b, BITS].nonzero().item())
    r = round(float(batch_inputs[n, b, BITS + 1]) * max_repeats)
    return n, r


def test_implements_protocol_with_documented_sizes() -> None:
    task = RepeatCopyTask(max_length=10, max_repeats=5)
    # The class satisfies the Task protocol.
    assert isinstance(task, Task)
    # Inputs: bits + delimiter + repeat count; outputs: bits + end marker.
    assert (task.name, task.input_size, task.output_size) == ("repeat_copy", 10, 9)
    # max_level = max(max_length, max_repeats).
    assert task.max_level == 10


def test_exact_layout_of_one_sequence() -> None:
    task = RepeatCopyTask(bits=2, max_repeats=4)
    batch = task.sample_exact(1, size=2, generator=seeded(0), repeats=2)
    x = batch.inputs[:2, 0, :2]
    expected_inputs = torch.zeros(8, 1, 4)
    expected_inputs[:2, 0, :2] = x
    expected_inputs[2, 0, 2:] = torch.tensor([1.0, 0.5])  # delimiter, r / max_repeats = 2/4
    expected_targets = torch.zeros(8, 1, 3)
    expected_targets[3:7, 0, :2] = torch.cat([x, x])
    expected_targets[7, 0, 2] = 1.0
    # T = n(r+1) + 2 = 8: vectors, delimiter + count, the vectors twice, then the end marker.
    assert torch.equal(batch.inputs, expected_inputs)
    assert torch.equal(batch.targets, expected_targets)
    assert batch.mask[:, 0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert batch.lengths.tolist() == [8]


def test_exact_layout_with_the_count_on_its_own_step() -> None:
    task = RepeatCopyTask(bits=2, max_repeats=4, repeat_encoding="own_step")
    batch = task.sample_exact(1, size=2, generator=seeded(0), repeats=2)
    x = batch.inputs[:2, 0, :2]
    expected_inputs = torch.zeros(9, 1, 4)
    expected_inputs[:2, 0, :2] = x
    expected_inputs[2, 0, 2] = 1.0  # the delimiter, alone on its step
    # r = 2 of 1..4: mean 2.5, variance ((4 - 1 + 1)^2 - 1) / 12 = 1.25
    expected_inputs[3, 0, 3] = (2 - 2.5) / 1.25**0.5
    expected_targets = torch.zeros(9, 1, 3)
    expected_targets[4:8, 0, :2] = torch.cat([x, x])
    expected_targets[8, 0, 2] = 1.0
    # T = n(r+1) + 3 = 9: vectors, delimiter, count, the vectors twice, then the end marker.
    torch.testing.assert_close(batch.inputs, expected_inputs, rtol=0, atol=1e-7)
    assert torch.equal(batch.targets, expected_targets)
    assert batch.mask[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert batch.lengths.tolist() == [9]


@pytest.mark.parametrize(("low", "high"), [(1, 10), (1, 2), (3, 7), (5, 5)])
def test_own_step_counts_are_standardised(low: int, high: int) -> None:
    task = RepeatCopyTask(min_repeats=low, max_repeats=high, repeat_encoding="own_step")
    codes = task.encode_repeats(torch.arange(low, high + 1)).double()
    # The training counts, uniform on min_repeats..max_repeats, have mean 0 and variance 1
    # (one count only: 0), as in the paper and pytorch-ntm ...
    assert float(codes.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(codes.var(unbiased=False)) == pytest.approx(1.0 if high > low else 0.0)
    # ... and larger counts (generalisation) get larger codes.
    assert bool((task.encode_repeats(torch.tensor([high + 1, 2 * high])) > codes.max()).all())


@pytest.mark.parametrize("encoding", ["delimiter", "own_step"])
def test_targets_repeat_inputs_then_marker(encoding: str) -> None:
    task = RepeatCopyTask(repeat_encoding=encoding)
    batch = task.sample(16, level=10, generator=seeded(1))
    c = int(encoding == "own_step")
    check_batch(task, batch, 16)
    for b in range(16):
        n = int(batch.inputs[:, b, BITS].nonzero().item())
        # The count channel is non-zero on one step: the delimiter's (c = 0) or the next
        # (c = 1; no count of 1..10 encodes to 0); it holds encode_repeats(r) for an allowed
        # integer count r.
        assert batch.inputs[:, b, BITS + 1].nonzero().flatten().tolist() == [n + c]
        code = float(batch.inputs[n + c, b, BITS + 1])
        r = (int(batch.mask[:, b].sum()) - 1) // n  # nr + 1 scored steps
        assert 1 <= r <= 10
        assert code == pytest.approx(float(task.encode_repeats(torch.tensor(r))))
        start, marker = n + c + 1, n + c + 1 + n * r
        # The length is n(r+1) + 2 + c.
        assert int(batch.lengths[b]) == n * (r + 1) + 2 + c
        # The output phase is the input sequence repeated r times ...
        repeated = batch.inputs[:n, b, :BITS].repeat(r, 1)
        assert torch.equal(batch.targets[start:marker, b, :BITS], repeated)
        # ... then one end marker, the only 1 on the marker channel.
        assert batch.targets[:, b, BITS].nonzero().flatten().tolist() == [marker]
        # Mask covers the n*r copies plus the marker step, nothing else.
        assert batch.mask[:, b].nonzero().flatten().tolist() == list(range(start, marker + 1))


def test_level_ranges() -> None:
    task = RepeatCopyTask(max_length=10, max_repeats=5)
    batch = task.sample(300, level=4, generator=seeded(2))
    pairs = [_length_and_repeats(batch.inputs, b, 5) for b in range(300)]
    lengths, repeats = zip(*pairs)
    # Level 4 of 10: lengths 1..ceil(4*10/10)=4, repeats 1..ceil(4*5/10)=2, both ends reached.
    assert (min(lengths), max(lengths), min(repeats), max(repeats)) == (1, 4, 1, 2)
    # describe_level reports the same ranges; the top level is the full range.
    assert task.describe_level(4) == "length 1-4, repeats 1-2"
    assert task.describe_level(1) == "length 1-1, repeats 1-1"
    assert task.describe_level(10) == "length 1-10, repeats 1-5"
    # sample_exact: length = size and repeats = max_repeats unless given.
    exact = task.sample_exact(3, size=12, generator=seeded(3))
    assert exact.lengths.tolist() == [12 * 6 + 2] * 3
    assert exact.mask.sum(0).tolist() == [12 * 5 + 1] * 3


def test_reproducible() -> None:
    task = RepeatCopyTask()
    check_reproducible(lambda g: task.sample(8, level=5, generator=g))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bits": 0}, "bits must be an int >= 1, but got bits=0"),
        ({"min_length": 4, "max_length": 3}, "min_length must be <= max_length"),
        ({"min_repeats": 0}, "min_repeats must be an int >= 1, but got min_repeats=0"),
        ({"min_repeats": 6, "max_repeats": 5}, "min_repeats must be <= max_repeats"),
        (
            {"repeat_encoding": "paper"},
            r"repeat_encoding must be one of \['delimiter', 'own_step'\], but got "
            r"repeat_encoding='paper'\.$",
        ),
    ],
)
def test_bad_params(params: dict[str, object], message: str) -> None:
    # Invalid parameters raise ValueError naming the field and value.
    with pytest.raises(ValueError, match=message):
        RepeatCopyTask(**params)


def test_bad_repeats_argument() -> None:
    # The keyword repeats of sample_exact must be a positive int.
    with pytest.raises(ValueError, match="repeats must be an int >= 1, but got repeats=0"):
        RepeatCopyTask().sample_exact(2, size=3, generator=seeded(0), repeats=0)
