"""The task protocol shared by the five tasks of Graves et al. 2014, section 4.

A task generates batches on the fly from a seeded ``torch.Generator``. Every batch is
time-major and padded: sequences of different lengths share one batch, padded steps have
all-zero inputs and ``mask == 0`` so they change neither the loss nor the metrics.

Difficulty is an integer *level* (1 = easiest). Curricula raise it; the task maps a level
to its generator's ranges (copy: lengths 1..level; repeat copy: length and repeats;
associative recall: item count; ...). ``sample_exact`` draws at one exact size for
evaluation (``python -m ntm.evaluate --lengths 10,20,50,100``).

Each task declares its *objective*, the one number that ranks runs (lower is better): the key
of ``task_scores`` named by ``Task.objective``. Copy, repeat copy, associative
recall and priority sort use ``"bit_errors"`` (per sequence); N-grams uses ``"bayes_gap"``
(cost minus the Bayes-optimal cost, bits per sequence). ``extra_scores`` adds what a task
measures beyond cost and bit errors (repeat copy: ``marker_accuracy``; N-grams: the gap and
``bayes_optimal_cost``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from ntm.metrics import batch_scores


@dataclass(frozen=True)
class Batch:
    """One padded, time-major batch.

    inputs:  [T, B, I] float32, what the NTM reads at each step.
    targets: [T, B, O] float32 in [0, 1], what it should emit (zero where mask is 0).
    mask:    [T, B] float32, 1.0 at the output steps that count toward loss and bit errors.
    lengths: [B] int64, the unpadded number of time steps of each sequence.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.inputs.to(device),
            self.targets.to(device),
            self.mask.to(device),
            self.lengths.to(device),
        )

    @property
    def batch_size(self) -> int:
        return int(self.inputs.shape[1])


@runtime_checkable
class Task(Protocol):
    """What the trainer, curricula and evaluation need from a task."""

    name: str
    input_size: int  # I
    output_size: int  # O
    max_level: int  # the target difficulty (e.g. 20 for copy 1-20)
    objective: str  # the score that ranks runs: "bit_errors" or "bayes_gap" (N-grams)

    def sample(self, batch_size: int, level: int, generator: torch.Generator) -> Batch:
        """A batch at difficulty ``level`` (1..max_level; above max_level is allowed for
        generalisation tests), sizes drawn from the level's ranges with ``generator``."""
        ...

    def sample_exact(self, batch_size: int, size: int, generator: torch.Generator) -> Batch:
        """A batch where every sequence has exactly ``size`` (length, items, ...)."""
        ...

    def describe_level(self, level: int) -> str:
        """Human-readable ranges of a level, e.g. ``'length 1-10'``."""
        ...

    def report_sizes(self) -> list[int]:
        """The exact sizes (``sample_exact``) an export scores when none are given."""
        ...

    def extra_scores(self, logits: torch.Tensor, batch: Batch) -> dict[str, float]:
        """Batch means of the task's own scores beyond cost and bit errors (may be empty).

        logits: [T, B, O], the model's outputs on ``batch``.
        """
        ...


# ---------------------------------------------------------------------------------------------
# Helpers shared by the task implementations (not part of the protocol).
# ---------------------------------------------------------------------------------------------


class TaskFields:
    """Declares the protocol's data members as plain instance attributes.

    Each task is a frozen dataclass of its parameters that inherits from this class and sets
    ``name``, ``input_size``, ``output_size``, ``max_level`` and ``objective`` once in
    ``__post_init__`` with ``_set_task_fields``. Declaring them here (not as frozen dataclass
    fields) keeps them out of ``repr``/``==`` and lets mypy match them against ``Task``'s
    instance variables.
    """

    name: str
    input_size: int
    output_size: int
    max_level: int
    objective: str

    def _set_task_fields(
        self, *, name: str, input_size: int, output_size: int, max_level: int, objective: str
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "input_size", input_size)
        object.__setattr__(self, "output_size", output_size)
        object.__setattr__(self, "max_level", max_level)
        object.__setattr__(self, "objective", objective)

    def report_sizes(self) -> list[int]:
        """Half, one, two and four times the target difficulty (the default, for tasks whose
        size at ``max_level`` is the level itself; see ``Task.report_sizes``)."""
        level = self.max_level
        return sorted({max(1, level // 2), level, 2 * level, 4 * level})

    def extra_scores(self, logits: torch.Tensor, batch: Batch) -> dict[str, float]:
        """No scores beyond cost and bit errors (the default; see ``Task.extra_scores``)."""
        return {}


def task_scores(task: Task, logits: torch.Tensor, batch: Batch) -> dict[str, float]:
    """Everything one evaluation reports, ``objective`` included (lower is better).

    logits: [T, B, O], the model's outputs on ``batch``. Returns ``loss`` (cost, bits per
    sequence), ``bit_errors`` (per sequence), the task's ``extra_scores`` and ``objective``,
    a copy of the score the task declares as its objective (``task.objective``).
    """
    scores = batch_scores(logits, batch.targets, batch.mask)
    scores.update(task.extra_scores(logits, batch))
    scores["objective"] = scores[task.objective]
    return scores


def check_int(field: str, value: object, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{field} must be an int >= {minimum}, but got {field}={value!r}.")


def check_range(low_field: str, low: int, high_field: str, high: int) -> None:
    """Raise ``ValueError`` unless ``low <= high`` (both already checked to be ints)."""
    if low > high:
        raise ValueError(
            f"{low_field} must be <= {high_field}, but got {low_field}={low} and "
            f"{high_field}={high}."
        )


def uniform_ints(low: int, high: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """[B] int64 drawn uniformly from the inclusive range ``low..high``."""
    return torch.randint(low, high + 1, (batch_size,), generator=generator, device=generator.device)


def level_high(level: int, minimum: int) -> int:
    """The largest size drawn at ``level``: the level itself, at least ``minimum``."""
    check_int("level", level, 1)
    return max(level, minimum)


def sample_sizes(
    batch_size: int, level: int, minimum: int, generator: torch.Generator
) -> torch.Tensor:
    """[B] int64 sizes drawn uniformly from ``minimum..level_high(level, minimum)``."""
    check_int("batch_size", batch_size, 1)
    return uniform_ints(minimum, level_high(level, minimum), batch_size, generator)


def exact_sizes(
    batch_size: int, size: int, minimum: int, generator: torch.Generator
) -> torch.Tensor:
    """[B] int64, every entry ``size`` (checked to be >= ``minimum``)."""
    check_int("batch_size", batch_size, 1)
    check_int("size", size, minimum)
    return torch.full((batch_size,), size, dtype=torch.int64, device=generator.device)


def random_bits(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """float32 tensor of independent Bernoulli(0.5) bits (0.0 or 1.0)."""
    bits = torch.randint(0, 2, shape, generator=generator, device=generator.device)
    return bits.to(torch.float32)


def time_steps(num_steps: int, device: torch.device) -> torch.Tensor:
    """[T, 1] int64 step indices 0..T-1, to broadcast against per-sequence [1, B] values."""
    return torch.arange(num_steps, device=device).unsqueeze(1)


def gather_steps(source: torch.Tensor, index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Pick time steps of ``source`` per sequence: ``out[t, b] = source[index[t, b], b]``.

    source: [S, B, W]; index: [T, B] int64 (any value where invalid); valid: [T, B] bool.
    Returns [T, B, W] float32, all zero where ``valid`` is False.
    """
    safe = torch.where(valid, index, 0).clamp(0, source.shape[0] - 1)  # [T, B]
    picked = source.gather(0, safe.unsqueeze(-1).expand(-1, -1, source.shape[-1]))  # [T, B, W]
    return picked * valid.unsqueeze(-1).to(source.dtype)
