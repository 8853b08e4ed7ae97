"""Associative recall (Graves et al. 2014, section 4.3): given one item, recall the next one.

An *item* is ``m = item_length`` random bit vectors of width ``W = bits`` (Bernoulli(0.5)).
Format, for one sequence of ``k`` items (item ``i`` occupies steps ``i(m+1)..i(m+1)+m``):

- ``inputs`` ``[T, B, W + 2]`` with ``T = k(m + 1) + 2m + 2``. Channels ``0..W-1`` are the
  bits, channel ``W`` is the item delimiter, channel ``W+1`` is the query delimiter.
  Step ``i(m+1)``: item delimiter = 1 (bits 0), then steps ``i(m+1)+1..i(m+1)+m``: the ``m``
  vectors of item ``i``, for ``i = 0..k-1``.
  Step ``q0 = k(m+1)``: query delimiter = 1. Steps ``q0+1..q0+m``: the query, a copy of item
  ``j`` with ``j`` uniform in ``0..k-2`` (never the last item). Step ``q0+m+1``: query
  delimiter = 1. Steps ``q0+m+2..T-1``: all zero.
- ``targets`` ``[T, B, W]``: the output phase, the last ``m`` steps ``q0+m+2..T-1``, holds
  item ``j+1`` (the item that followed the query item in the input); zero elsewhere.
- ``mask`` ``[T, B]``: 1 exactly on those ``m`` output steps.
- ``lengths`` ``[B]``: ``k(m + 1) + 2m + 2``; padding at the end has zero inputs, targets and
  mask.

Items are drawn independently, so two items may coincide by chance (probability about
``k^2 / 2^(m W + 1)``, negligible for the paper's 3 x 6 bits).

Levels: level ``L`` draws ``k`` uniformly from ``[min_items, max(L, min_items)]``;
``max_level = max_items`` (the paper trains on 2-6 items). ``sample_exact(size)`` fixes
``k = size`` (``size >= 2``).
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
class AssociativeRecallTask(TaskFields):
    """Associative-recall task; see the module docstring for the exact batch layout.

    Example:
        >>> task = AssociativeRecallTask(bits=6, item_length=3, min_items=2, max_items=6)
        >>> batch = task.sample_exact(2, size=4, generator=torch.Generator().manual_seed(0))
        >>> tuple(batch.inputs.shape), int(batch.mask.sum())
        ((24, 2, 8), 6)
    """

    bits: int = 6
    item_length: int = 3
    min_items: int = 2
    max_items: int = 6

    def __post_init__(self) -> None:
        check_int("bits", self.bits, 1)
        check_int("item_length", self.item_length, 1)
        check_int("min_items", self.min_items, 2)
        check_int("max_items", self.max_items, 2)
        check_range("min_items", self.min_items, "max_items", self.max_items)
        self._set_task_fields(
            name="associative_recall",
            input_size=self.bits + 2,
            output_size=self.bits,
            max_level=self.max_items,
            objective="bit_errors",
        )

    def sample(self, batch_size: int, level: int, generator: torch.Generator) -> Batch:
        return self._build(sample_sizes(batch_size, level, self.min_items, generator), generator)

    def sample_exact(self, batch_size: int, size: int, generator: torch.Generator) -> Batch:
        return self._build(exact_sizes(batch_size, size, 2, generator), generator)

    def describe_level(self, level: int) -> str:
        return f"items {self.min_items}-{level_high(level, self.min_items)}"

    def _build(self, k: torch.Tensor, generator: torch.Generator) -> Batch:
        """k: [B] int64 item counts -> padded batch."""
        m, stride = self.item_length, self.item_length + 1  # stride: delimiter + item
        batch_size, k_max = k.shape[0], int(k.max())
        # Item i, vector s lives at row i * m + s.
        vectors = random_bits((k_max * m, batch_size, self.bits), generator)  # [K*m, B, W]
        # Query index j uniform in 0..k-2 (u < 1, so floor(u * (k - 1)) <= k - 2).
        u = torch.rand(batch_size, generator=generator, device=generator.device)
        j = (u * (k - 1)).floor().to(torch.int64).unsqueeze(0)  # [1, B]
        lengths = k * stride + 2 * m + 2  # [B]
        t = time_steps(int(lengths.max()), k.device)  # [T, 1]
        k_ = k.unsqueeze(0)  # [1, B]
        q0 = k_ * stride  # [1, B] first query delimiter
        in_items = t < q0  # [T, B]
        offset = t % stride  # [T, 1]
        item_delimiter = in_items & (offset == 0)
        item_bits = in_items & (offset > 0)
        query_bits = (t > q0) & (t <= q0 + m)
        query_delimiter = (t == q0) | (t == q0 + m + 1)
        out_start = q0 + m + 2  # [1, B]
        answering = (t >= out_start) & (t < out_start + m)  # [T, B]
        source = torch.where(item_bits, (t // stride) * m + offset - 1, j * m + t - q0 - 1)
        inputs = torch.cat(
            [
                gather_steps(vectors, source, item_bits | query_bits),  # [T, B, W]
                item_delimiter.unsqueeze(-1).to(torch.float32),  # [T, B, 1]
                query_delimiter.unsqueeze(-1).to(torch.float32),  # [T, B, 1]
            ],
            dim=-1,
        )
        targets = gather_steps(vectors, (j + 1) * m + t - out_start, answering)  # [T, B, W]
        return Batch(inputs, targets, answering.to(torch.float32), lengths)
