"""Repeat copy (Graves et al. 2014, section 4.2): write a sequence back ``r`` times, then stop.

Format, for one sequence of ``n`` vectors repeated ``r`` times (``W = bits``), with
``c = 0`` for ``repeat_encoding="delimiter"`` (the default) and ``c = 1`` for ``"own_step"``:

- ``inputs`` ``[T, B, W + 2]`` with ``T = n(r + 1) + 2 + c``. Channels ``0..W-1`` are the
  bits, channel ``W`` is the delimiter, channel ``W+1`` is the repeat count.
  Steps ``0..n-1``: the ``n`` random vectors (Bernoulli(0.5) bits), channels ``W, W+1`` zero.
  Step ``n``: delimiter = 1, bit channels 0.
  Step ``n + c``: the repeat channel holds the normalised repeat count, every other channel
  of that step 0 (for ``c = 0`` it is the delimiter step itself):

  - ``"delimiter"``: ``r / max_repeats``, in ``(0, 1]`` for ``r <= max_repeats``, on the
    delimiter step;
  - ``"own_step"`` (the paper's, and pytorch-ntm's): ``(r - mu) / sigma`` on its own step
    after the delimiter, with ``mu`` and ``sigma`` the mean and standard deviation of ``r``
    uniform on ``min_repeats..max_repeats`` (``sigma^2 = ((max - min + 1)^2 - 1) / 12``; 1
    when ``min_repeats == max_repeats``), so the training counts have mean 0 and variance 1.

  Steps ``n+c+1..T-1``: all zero.
- ``targets`` ``[T, B, W + 1]``. Channel ``W`` is the end-of-output marker.
  Steps ``n+c+1..n+c+nr``: the sequence repeated ``r`` times (step ``n+c+1+j`` holds vector
  ``j mod n``), marker 0. Step ``n+c+nr+1`` (the last step): marker = 1, bit channels 0.
- ``mask`` ``[T, B]``: 1 on the whole output phase, steps ``n+c+1..n+c+nr+1`` (``nr + 1``
  scored steps, the marker step included).
- ``lengths`` ``[B]``: ``n(r + 1) + 2 + c``; padding at the end has zero inputs, targets and
  mask.

Levels: ``max_level = max(max_length, max_repeats)``; level ``L`` raises both knobs together,
drawing ``n`` uniformly from ``[min_length, max(min_length, ceil(L * max_length / max_level))]``
and ``r`` uniformly from ``[min_repeats, max(min_repeats, ceil(L * max_repeats / max_level))]``.
``sample_exact(size)`` fixes ``n = size`` and ``r = max_repeats`` (or the keyword ``repeats``).

Objective: bit errors per sequence (all scored steps, marker included). The end marker is
also scored on its own, as ``marker_accuracy``: the fraction of sequences whose marker is
emitted (logit > 0) at the marker step and at no other scored step (``marker_correct``), the
part where the paper's NTM failed beyond 11 repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ntm.tasks.base import (
    Batch,
    TaskFields,
    check_int,
    check_range,
    exact_sizes,
    gather_steps,
    random_bits,
    time_steps,
    uniform_ints,
)


def marker_correct(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Whether each sequence's end marker is right: [B] bool.

    logits: [T, B, W + 1], the marker is the last channel. A sequence counts when the marker
    is emitted (logit > 0) at its marker step and at none of its other scored steps, so an
    early, late, missing or repeated marker makes it wrong. Unscored steps are ignored.
    """
    emitted = logits[..., -1] > 0  # [T, B]
    wanted = batch.targets[..., -1] > 0.5  # [T, B]
    wrong = (emitted != wanted) & (batch.mask > 0)  # [T, B]
    return ~wrong.any(0)


REPEAT_ENCODINGS = ("delimiter", "own_step")


@dataclass(frozen=True)
class RepeatCopyTask(TaskFields):
    """Repeat-copy task; see the module docstring for the exact batch layout.

    repeat_encoding: how the repeat count is input: ``delimiter`` (``r / max_repeats`` on the
        delimiter step) or ``own_step`` (standardised, on its own step after the delimiter,
        as in the paper and pytorch-ntm).

    Example:
        >>> task = RepeatCopyTask(bits=8, max_length=10, max_repeats=10)
        >>> batch = task.sample_exact(2, size=3, generator=torch.Generator().manual_seed(0))
        >>> tuple(batch.inputs.shape), int(batch.mask.sum())
        ((35, 2, 10), 62)
        >>> paper = RepeatCopyTask(max_repeats=10, repeat_encoding="own_step")
        >>> batch = paper.sample_exact(1, size=3, generator=torch.Generator().manual_seed(0))
        >>> tuple(batch.inputs.shape), round(float(batch.inputs[4, 0, 9]), 4)  # (10 - 5.5) / 2.8723
        ((36, 1, 10), 1.5667)
    """

    bits: int = 8
    min_length: int = 1
    max_length: int = 10
    min_repeats: int = 1
    max_repeats: int = 10
    repeat_encoding: str = "delimiter"

    def __post_init__(self) -> None:
        if self.repeat_encoding not in REPEAT_ENCODINGS:
            raise ValueError(
                f"repeat_encoding must be one of {list(REPEAT_ENCODINGS)}, "
                f"but got repeat_encoding={self.repeat_encoding!r}."
            )
        check_int("bits", self.bits, 1)
        check_int("min_length", self.min_length, 1)
        check_int("max_length", self.max_length, 1)
        check_range("min_length", self.min_length, "max_length", self.max_length)
        check_int("min_repeats", self.min_repeats, 1)
        check_int("max_repeats", self.max_repeats, 1)
        check_range("min_repeats", self.min_repeats, "max_repeats", self.max_repeats)
        self._set_task_fields(
            name="repeat_copy",
            input_size=self.bits + 2,
            output_size=self.bits + 1,
            max_level=max(self.max_length, self.max_repeats),
            objective="bit_errors",
        )

    def _level_highs(self, level: int) -> tuple[int, int]:
        """The largest length and repeat count at ``level`` (ceil of the proportional value)."""
        check_int("level", level, 1)
        length = -(-level * self.max_length // self.max_level)
        repeats = -(-level * self.max_repeats // self.max_level)
        return max(length, self.min_length), max(repeats, self.min_repeats)

    def sample(self, batch_size: int, level: int, generator: torch.Generator) -> Batch:
        check_int("batch_size", batch_size, 1)
        length_high, repeats_high = self._level_highs(level)
        n = uniform_ints(self.min_length, length_high, batch_size, generator)
        r = uniform_ints(self.min_repeats, repeats_high, batch_size, generator)
        return self._build(n, r, generator)

    def sample_exact(
        self,
        batch_size: int,
        size: int,
        generator: torch.Generator,
        *,
        repeats: int | None = None,
    ) -> Batch:
        """Every sequence has length ``size`` and ``repeats`` (default ``max_repeats``) copies."""
        n = exact_sizes(batch_size, size, 1, generator)
        repeats = self.max_repeats if repeats is None else repeats
        check_int("repeats", repeats, 1)
        return self._build(n, torch.full_like(n, repeats), generator)

    def describe_level(self, level: int) -> str:
        length_high, repeats_high = self._level_highs(level)
        return f"length {self.min_length}-{length_high}, repeats {self.min_repeats}-{repeats_high}"

    def extra_scores(self, logits: torch.Tensor, batch: Batch) -> dict[str, float]:
        """``marker_accuracy``: the fraction of sequences with a right end marker."""
        return {"marker_accuracy": float(marker_correct(logits, batch).float().mean())}

    def encode_repeats(self, r: torch.Tensor) -> torch.Tensor:
        """The repeat channel's value for counts ``r`` (any shape; float32), as documented in
        the module docstring for ``repeat_encoding``."""
        r = r.to(torch.float32)
        if self.repeat_encoding == "delimiter":
            return r / self.max_repeats
        mean = (self.min_repeats + self.max_repeats) / 2
        variance = ((self.max_repeats - self.min_repeats + 1) ** 2 - 1) / 12
        return (r - mean) / (math.sqrt(variance) if variance > 0 else 1.0)

    def _build(self, n: torch.Tensor, r: torch.Tensor, generator: torch.Generator) -> Batch:
        """n, r: [B] int64 lengths and repeat counts -> padded batch."""
        batch_size, n_max = n.shape[0], int(n.max())
        c = int(self.repeat_encoding == "own_step")  # the count's own step delays the output
        lengths = n * (r + 1) + 2 + c  # [B]
        vectors = random_bits((n_max, batch_size, self.bits), generator)  # [N, B, W]
        t = time_steps(int(lengths.max()), n.device)  # [T, 1]
        n_, r_ = n.unsqueeze(0), r.unsqueeze(0)  # [1, B]
        delimiter = (t == n_).to(torch.float32)  # [T, B]
        count_step = (t == n_ + c).to(torch.float32)  # [T, B]
        out_start = n_ + c + 1  # [1, B]
        out_end = out_start + n_ * r_  # [1, B]; the marker step
        copying = (t >= out_start) & (t < out_end)  # [T, B]
        marker = t == out_end  # [T, B]
        inputs = torch.cat(
            [
                gather_steps(vectors, t.expand(-1, batch_size), t < n_),  # [T, B, W]
                delimiter.unsqueeze(-1),  # [T, B, 1]
                (count_step * self.encode_repeats(r_)).unsqueeze(-1),  # [T, B, 1] repeat count
            ],
            dim=-1,
        )
        targets = torch.cat(
            [
                gather_steps(vectors, (t - out_start) % n_, copying),  # [T, B, W]
                marker.unsqueeze(-1).to(torch.float32),  # [T, B, 1] end marker
            ],
            dim=-1,
        )
        mask = (copying | marker).to(torch.float32)
        return Batch(inputs, targets, mask, lengths)
