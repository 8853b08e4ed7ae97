"""Priority sort (Graves et al. 2014, section 4.5): emit the highest-priority vectors in order.

Format, for ``N`` inputs and ``K`` outputs (``W = bits``):

- ``inputs`` ``[T, B, W + 2]`` with ``T = N + 1 + K``. Channels ``0..W-1`` are the bits,
  channel ``W`` is the priority, channel ``W+1`` is the delimiter.
  Steps ``0..N-1``: a random vector (Bernoulli(0.5) bits) with its scalar priority, drawn
  uniformly from ``[-1, 1]``, on channel ``W``; delimiter 0.
  Step ``N``: delimiter = 1, everything else 0.
  Steps ``N+1..N+K``: all zero.
- ``targets`` ``[T, B, W]``: steps ``N+1..N+K`` hold the ``K`` input vectors with the highest
  priorities, sorted by descending priority (step ``N+1`` = the highest); zero elsewhere.
- ``mask`` ``[T, B]``: 1 exactly at the ``K`` output steps ``N+1..N+K``.
- ``lengths`` ``[B]``: ``N + 1 + K`` (all sequences in a batch have the same size, so there is
  no padding).

Levels: level ``L`` scales the task: ``N = L`` inputs and ``K = max(1, round(L * num_outputs /
num_inputs))`` outputs (round half up), every sequence of the batch the same size;
``max_level = num_inputs``, so the top level is the paper's 20 inputs / 16 outputs.
``sample_exact(size)`` is the same as ``sample(level=size)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ntm.tasks.base import Batch, TaskFields, check_int, check_range, gather_steps, random_bits


@dataclass(frozen=True)
class PrioritySortTask(TaskFields):
    """Priority-sort task; see the module docstring for the exact batch layout.

    Example:
        >>> task = PrioritySortTask(bits=8, num_inputs=20, num_outputs=16)
        >>> batch = task.sample(3, level=20, generator=torch.Generator().manual_seed(0))
        >>> tuple(batch.inputs.shape), int(batch.mask.sum())
        ((37, 3, 10), 48)
    """

    bits: int = 8
    num_inputs: int = 20
    num_outputs: int = 16

    def __post_init__(self) -> None:
        check_int("bits", self.bits, 1)
        check_int("num_inputs", self.num_inputs, 1)
        check_int("num_outputs", self.num_outputs, 1)
        check_range("num_outputs", self.num_outputs, "num_inputs", self.num_inputs)
        self._set_task_fields(
            name="priority_sort",
            input_size=self.bits + 2,
            output_size=self.bits,
            max_level=self.num_inputs,
            objective="bit_errors",
        )

    def outputs_for(self, num_inputs: int) -> int:
        """K for N inputs: ``round(N * num_outputs / num_inputs)``, half up, at least 1."""
        rounded = (2 * num_inputs * self.num_outputs + self.num_inputs) // (2 * self.num_inputs)
        return max(1, rounded)

    def sample(self, batch_size: int, level: int, generator: torch.Generator) -> Batch:
        check_int("level", level, 1)
        return self.sample_exact(batch_size, level, generator)

    def sample_exact(self, batch_size: int, size: int, generator: torch.Generator) -> Batch:
        check_int("batch_size", batch_size, 1)
        check_int("size", size, 1)
        return self._build(batch_size, size, self.outputs_for(size), generator)

    def describe_level(self, level: int) -> str:
        check_int("level", level, 1)
        return f"inputs {level}, outputs {self.outputs_for(level)}"

    def _build(self, batch_size: int, n: int, k: int, generator: torch.Generator) -> Batch:
        """n inputs, k outputs for every sequence -> batch of T = n + 1 + k steps."""
        device = generator.device
        vectors = random_bits((n, batch_size, self.bits), generator)  # [N, B, W]
        priority = torch.rand(n, batch_size, generator=generator, device=device) * 2 - 1  # [N, B]
        order = torch.argsort(priority, dim=0, descending=True)[:k]  # [K, B]
        ranked = gather_steps(vectors, order, torch.ones_like(order, dtype=torch.bool))  # [K,B,W]
        zeros = torch.zeros(1 + k, batch_size, self.bits + 2, device=device)
        reading = torch.cat(
            [vectors, priority.unsqueeze(-1), torch.zeros(n, batch_size, 1, device=device)],
            dim=-1,
        )  # [N, B, W + 2]
        inputs = torch.cat([reading, zeros], dim=0)  # [T, B, W + 2]
        inputs[n, :, self.bits + 1] = 1.0  # delimiter step
        targets = torch.cat([torch.zeros(n + 1, batch_size, self.bits, device=device), ranked])
        mask = targets.new_zeros(n + 1 + k, batch_size)  # [T, B]
        mask[n + 1 :] = 1.0  # the K output steps
        lengths = torch.full((batch_size,), n + 1 + k, dtype=torch.int64, device=device)
        return Batch(inputs, targets, mask, lengths)
