from __future__ import annotations

import pytest
import torch

from ntm.tasks import AssociativeRecallTask, Task
from tests.ntm.tasks.helpers import check_batch, check_reproducible, seeded

BITS, M = 6, 3  # item width and item_length of the paper


def _items(inputs: torch.Tensor, b: int, k: int) -> list[torch.Tensor]:
    """The k items of sequence b, read from the input steps after each item delimiter."""
    return [inputs[i * (M + 1) + 1 : i * (M + 1) + 1 + M, b, :BITS] for i in range(k)]


def test_implements_protocol_with_documented_sizes() -> None:
    task = AssociativeRecallTask()
    # The class satisfies the Task protocol.
    assert isinstance(task, Task)
    # Inputs: bits + item delimiter + query delimiter; outputs: bits; max level = max_items.
    assert (task.name, task.input_size, task.output_size, task.max_level) == (
        "associative_recall",
        8,
        6,
        6,
    )


def test_exact_layout_of_two_items() -> None:
    task = AssociativeRecallTask(bits=2, item_length=1, min_items=2, max_items=2)
    batch = task.sample_exact(1, size=2, generator=seeded(0))
    a, c = batch.inputs[1, 0, :2], batch.inputs[3, 0, :2]
    expected = torch.zeros(8, 1, 4)
    expected[0, 0, 2] = expected[2, 0, 2] = 1.0  # item delimiters
    expected[1, 0, :2], expected[3, 0, :2] = a, c  # items 0 and 1
    expected[4, 0, 3] = expected[6, 0, 3] = 1.0  # query delimiters around ...
    expected[5, 0, :2] = a  # ... the query: with 2 items it is always item 0
    # T = k(m+1) + 2m + 2 = 8; the answer (item 1) is the target of the last step only.
    assert torch.equal(batch.inputs, expected)
    assert torch.equal(batch.targets[7, 0], c) and not batch.targets[:7].any()
    assert batch.mask[:, 0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]


def test_target_is_item_after_query() -> None:
    task = AssociativeRecallTask()
    batch = task.sample(64, level=6, generator=seeded(1))
    check_batch(task, batch, 64)
    query_indices = []
    for b in range(64):
        length = int(batch.lengths[b])
        k = (length - 2 * M - 2) // (M + 1)
        q0, out_start = k * (M + 1), k * (M + 1) + M + 2
        items = _items(batch.inputs, b, k)
        # Item delimiters open each item; query delimiters sit at q0 and q0 + m + 1.
        item_steps = [i * (M + 1) for i in range(k)]
        assert batch.inputs[:, b, BITS].nonzero().flatten().tolist() == item_steps
        assert batch.inputs[:, b, BITS + 1].nonzero().flatten().tolist() == [q0, q0 + M + 1]
        query = batch.inputs[q0 + 1 : q0 + 1 + M, b, :BITS]
        j = next(i for i, item in enumerate(items) if torch.equal(item, query))
        query_indices.append((j, k))
        # The target is the item that followed the query item.
        assert torch.equal(batch.targets[out_start:length, b], items[j + 1])
        # Only the m output steps are scored and the output phase has no input.
        assert batch.mask[:, b].nonzero().flatten().tolist() == list(range(out_start, length))
        assert not batch.inputs[out_start:, b].any()
    # The query is never the last item, and the first item does get queried.
    assert all(j <= k - 2 for j, k in query_indices)
    assert min(j for j, _ in query_indices) == 0


def test_level_ranges() -> None:
    task = AssociativeRecallTask(min_items=2, max_items=6)
    lengths = task.sample(200, level=4, generator=seeded(2)).lengths
    k = (lengths - 2 * M - 2) // (M + 1)
    # Level 4 draws 2..4 items and reaches both ends.
    assert (int(k.min()), int(k.max())) == (2, 4)
    k1 = (task.sample(20, level=1, generator=seeded(2)).lengths - 2 * M - 2) // (M + 1)
    # Level 1 is clipped up to min_items.
    assert k1.tolist() == [2] * 20
    assert task.describe_level(4) == "items 2-4" and task.describe_level(1) == "items 2-2"
    # sample_exact fixes the item count, also beyond max_items.
    exact = task.sample_exact(3, size=10, generator=seeded(3))
    assert exact.lengths.tolist() == [10 * 4 + 8] * 3


def test_reproducible() -> None:
    task = AssociativeRecallTask()
    check_reproducible(lambda g: task.sample(8, level=6, generator=g))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bits": 0}, "bits must be an int >= 1, but got bits=0"),
        ({"item_length": 0}, "item_length must be an int >= 1, but got item_length=0"),
        ({"min_items": 1}, "min_items must be an int >= 2, but got min_items=1"),
        ({"min_items": 5, "max_items": 4}, "min_items must be <= max_items"),
    ],
)
def test_bad_params(params: dict[str, int], message: str) -> None:
    # Invalid parameters raise ValueError naming the field and value.
    with pytest.raises(ValueError, match=message):
        AssociativeRecallTask(**params)


def test_exact_size_needs_two_items() -> None:
    # A query needs an item after it, so at least two items.
    with pytest.raises(ValueError, match="size must be an int >= 2, but got size=1"):
        AssociativeRecallTask().sample_exact(2, size=1, generator=seeded(0))
