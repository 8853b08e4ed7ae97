"""Checks every task's batches must pass (shared by the per-task test files)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ntm.tasks.base import Batch, Task


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_batch(task: Task, batch: Batch, batch_size: int) -> None:
    """Shapes, dtypes, padding and the target/mask invariants of ``ntm.tasks.base.Batch``."""
    num_steps = batch.inputs.shape[0]
    # The four tensors have the documented dtypes.
    assert batch.inputs.dtype == batch.targets.dtype == batch.mask.dtype == torch.float32
    assert batch.lengths.dtype == torch.int64
    # Time-major shapes [T, B, I], [T, B, O], [T, B], [B], with the task's widths.
    assert batch.inputs.shape == (num_steps, batch_size, task.input_size)
    assert batch.targets.shape == (num_steps, batch_size, task.output_size)
    assert batch.mask.shape == (num_steps, batch_size)
    assert batch.lengths.shape == (batch_size,)
    # The batch is padded to exactly its longest sequence.
    assert int(batch.lengths.max()) == num_steps
    padding = torch.arange(num_steps).unsqueeze(1) >= batch.lengths.unsqueeze(0)  # [T, B]
    # Padded steps have zero inputs, zero targets and mask 0.
    assert not batch.inputs[padding].any()
    assert not batch.targets[padding].any()
    assert not batch.mask[padding].any()
    # The mask is binary and targets are zero wherever the mask is 0.
    assert set(batch.mask.unique().tolist()) <= {0.0, 1.0}
    assert not batch.targets[batch.mask == 0].any()
    # Targets lie in [0, 1].
    assert batch.targets.min() >= 0 and batch.targets.max() <= 1


def check_reproducible(draw: Callable[[torch.Generator], Batch]) -> None:
    """Same seed -> identical batch; a different seed -> a different batch."""
    first, again, other = draw(seeded(7)), draw(seeded(7)), draw(seeded(8))
    # Randomness comes only from the generator: the same seed gives the same batch.
    for name in ("inputs", "targets", "mask", "lengths"):
        assert torch.equal(getattr(first, name), getattr(again, name)), name
    # A different seed gives different data.
    same_shape = first.inputs.shape == other.inputs.shape
    assert not (same_shape and torch.equal(first.inputs, other.inputs))
