"""Copy (Graves et al. 2014, section 4.1): read a sequence of random bit vectors, write it back.

Format, for one sequence of ``n`` vectors (``B`` = batch size, ``W = bits``):

- ``inputs`` ``[T, B, W + 1]`` with ``T = 2n + 1``. Channels ``0..W-1`` are the bits, channel
  ``W`` is the delimiter.
  Steps ``0..n-1``: the ``n`` random vectors (independent Bernoulli(0.5) bits), delimiter 0.
  Step ``n``: the delimiter alone (channel ``W`` = 1, bit channels 0).
  Steps ``n+1..2n``: all zero; the model answers from memory.
- ``targets`` ``[T, B, W]``: steps ``n+1..2n`` hold the ``n`` input vectors in order; zero
  elsewhere.
- ``mask`` ``[T, B]``: 1 exactly at steps ``n+1..2n`` (``n`` scored steps).
- ``lengths`` ``[B]``: ``2n + 1``. Shorter sequences are padded at the end to the longest
  one with zero inputs, zero targets and mask 0.

Levels: level ``L`` draws ``n`` uniformly from ``[min_length, max(L, min_length)]``;
``max_level = max_length`` (the paper trains on lengths 1-20). ``sample_exact(size)`` fixes
``n = size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ntm.tasks.base import (
    Batch,
    TaskFields,
    check_int,
    check_range,
    exact_sizes,
    gather_steps,
    level_high,
    random_bits,
    sample_sizes,
    time_steps,
)


@dataclass(frozen=True)
class CopyTask(TaskFields):
    """Copy task; see the module docstring for the exact batch layout.

    Example:
        >>> task = CopyTask(bits=8, min_length=1, max_length=20)
        >>> batch = task.sample(4, level=5, generator=torch.Generator().manual_seed(0))
        >>> batch.inputs.shape[1:], int(batch.lengths.max()) <= 11
        (torch.Size([4, 9]), True)
    """

    bits: int = 8
    min_length: int = 1
    max_length: int = 20

    def __post_init__(self) -> None:
        check_int("bits", self.bits, 1)
        check_int("min_length", self.min_length, 1)
        check_int("max_length", self.max_length, 1)
        check_range("min_length", self.min_length, "max_length", self.max_length)
        self._set_task_fields(
            name="copy",
            input_size=self.bits + 1,
            output_size=self.bits,
            max_level=self.max_length,
            objective="bit_errors",
        )

    def sample(self, batch_size: int, level: int, generator: torch.Generator) -> Batch:
        return self._build(sample_sizes(batch_size, level, self.min_length, generator), generator)

    def sample_exact(self, batch_size: int, size: int, generator: torch.Generator) -> Batch:
        return self._build(exact_sizes(batch_size, size, 1, generator), generator)

    def describe_level(self, level: int) -> str:
        return f"length {self.min_length}-{level_high(level, self.min_length)}"

    def _build(self, n: torch.Tensor, generator: torch.Generator) -> Batch:
        """n: [B] int64 sequence lengths -> padded batch."""
        batch_size, n_max = n.shape[0], int(n.max())
        vectors = random_bits((n_max, batch_size, self.bits), generator)  # [N, B, W]
        t = time_steps(2 * n_max + 1, n.device)  # [T, 1]
        n_ = n.unsqueeze(0)  # [1, B]
        reading = t < n_  # [T, B]
        writing = (t > n_) & (t <= 2 * n_)  # [T, B]
        inputs = torch.cat(
            [
                gather_steps(vectors, t.expand(-1, batch_size), reading),  # [T, B, W]
                (t == n_).unsqueeze(-1).to(torch.float32),  # [T, B, 1] delimiter
            ],
            dim=-1,
        )
        targets = gather_steps(vectors, t - n_ - 1, writing)  # [T, B, W]
        return Batch(inputs, targets, writing.to(torch.float32), 2 * n + 1)
