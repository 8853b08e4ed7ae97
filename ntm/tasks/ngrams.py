"""Dynamic N-grams (Graves et al. 2014, section 4.4): predict the next bit of a random N-gram.

Each sequence has its own lookup table of ``2^(n-1)`` probabilities ``P(next bit = 1 |
previous n-1 bits)``, drawn independently from Beta(1/2, 1/2). torch's Beta/Gamma samplers take
no ``generator``, so the table uses the inverse CDF of this arcsine law: ``p = sin^2(pi U / 2)``,
``U ~ Uniform(0, 1)``. A sequence of ``L = length`` bits starts with ``n-1`` uniform bits; each
later bit ``x_i`` is Bernoulli(``table[c_i]``), where the context ``c_i`` packs the previous
``n-1`` bits with the most recent one as the least significant bit:
``c_i = sum_{d=1..n-1} x_{i-d} 2^(d-1)``.

Format (``T = L - 1`` prediction steps; every sequence has the same length, so no padding):

- ``inputs`` ``[T, B, 1]``: step ``t`` holds bit ``x_t``.
- ``targets`` ``[T, B, 1]``: step ``t`` holds the next bit ``x_{t+1}``.
- ``mask`` ``[T, B]``: 1 at every step (all ``L - 1`` predictions are scored, the first ones
  too; see ``bayes_optimal_cost`` for how the optimal predictor scores them).
- ``lengths`` ``[B]``: ``L - 1``.

Levels: there is no difficulty knob; ``max_level = 1`` and ``level`` (>= 1) is accepted and
ignored, so ``sample`` always draws ``length``-bit sequences (the paper's 200).
``sample_exact(size)`` draws ``size``-bit sequences (``T = size - 1``) instead.

Objective (the paper's measure, section 4.4): ``bayes_gap``, the model's cost minus the
Bayes-optimal cost on the same sequences, in bits per sequence; ``extra_scores`` reports it
beside ``bayes_optimal_cost`` (the model's own cost is the ``loss`` of every evaluation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ntm.metrics import LN2, sequence_cost_nats
from ntm.tasks.base import Batch, TaskFields, check_int

_KT_PRIOR = 0.5  # Krichevsky-Trofimov pseudo-count: P(1|c) = (N1 + 1/2) / (N0 + N1 + 1)


def draw_tables(batch_size: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """[B, 2^(n-1)] float32 probabilities ``P(1 | context)``, each Beta(1/2, 1/2) distributed."""
    u = torch.rand(batch_size, 2 ** (n - 1), generator=generator, device=generator.device)
    return torch.sin(0.5 * math.pi * u) ** 2


def markov_bits(tables: torch.Tensor, uniforms: torch.Tensor, n: int) -> torch.Tensor:
    """Run the N-gram chain: [B, 2^(n-1)] tables, [L, B] uniforms -> [L, B] int64 bits.

    Bit ``i`` is ``uniforms[i] < p`` with ``p = 1/2`` for the first ``n-1`` bits and
    ``p = tables[b, c_i]`` after. A loop over time: each bit depends on the previous ones.
    """
    context_mask = 2 ** (n - 1) - 1
    context = torch.zeros(uniforms.shape[1], dtype=torch.int64, device=uniforms.device)  # [B]
    bits = []
    for i in range(uniforms.shape[0]):
        if i < n - 1:
            p = torch.full_like(uniforms[i], 0.5)
        else:
            p = tables.gather(1, context.unsqueeze(1)).squeeze(1)  # [B]
        bit = (uniforms[i] < p).to(torch.int64)  # [B]
        context = ((context << 1) | bit) & context_mask
        bits.append(bit)
    return torch.stack(bits)  # [L, B]


def bayes_predictions(batch: Batch, n: int) -> torch.Tensor:
    """The optimal Bayesian predictor (section 4.4) on ``batch``: [T, B] float64 ``P(1)``.

    For target step ``t`` (predicting ``x_{t+1}``) with a complete context (``t >= n - 2``),
    ``P(x_{t+1} = 1) = (N1 + 1/2) / (N0 + N1 + 1)``, where ``N0``/``N1`` count the zeros/ones
    that followed the same context at earlier scored steps of this sequence. The first
    ``n - 2`` targets (``x_1..x_{n-2}``) have no complete context; they are uniform bits, so
    ``P = 1/2`` there, which is exactly optimal.
    """
    check_int("n", n, 1)
    targets = batch.targets[..., 0].to(torch.float64)  # [T, B]
    seq = torch.cat([batch.inputs[:1, :, 0].to(torch.float64), targets])  # [T + 1, B]
    bits = seq.round().to(torch.int64)  # [T + 1, B]; bits[t + 1] is the target of step t
    num_steps = targets.shape[0]
    t = torch.arange(num_steps, device=bits.device)  # [T]
    context = torch.zeros_like(bits[1:])  # [T, B]
    for d in range(1, n):
        context += bits[(t + 1 - d).clamp(min=0)] << (d - 1)
    scored = batch.mask.to(torch.float64)  # [T, B]
    complete = (t >= n - 2).unsqueeze(1).to(torch.float64) * scored  # [T, B]
    onehot = torch.nn.functional.one_hot(context, 2 ** (n - 1)).to(torch.float64)  # [T, B, C]
    onehot = onehot * complete.unsqueeze(-1)  # only complete, scored steps are counted
    ones = onehot * targets.unsqueeze(-1)  # [T, B, C]
    # Exclusive running counts: what was seen after each context strictly before step t.
    seen_ones = ((ones.cumsum(0) - ones) * onehot).sum(-1)  # [T, B] N1 at own context
    seen_all = ((onehot.cumsum(0) - onehot) * onehot).sum(-1)  # [T, B] N0 + N1
    p_one = (seen_ones + _KT_PRIOR) / (seen_all + 2 * _KT_PRIOR)  # [T, B]
    return torch.where(complete > 0, p_one, torch.full_like(p_one, 0.5))


def bayes_optimal_cost(batch: Batch, n: int) -> torch.Tensor:
    """Cost in bits of ``bayes_predictions`` on ``batch``: [B] float64,
    ``-sum_t mask[t] log2 P(observed x_{t+1})``, over the same steps the model is scored on."""
    p_one = bayes_predictions(batch, n)  # [T, B]
    targets = batch.targets[..., 0].to(torch.float64)  # [T, B]
    p_observed = torch.where(targets > 0.5, p_one, 1 - p_one)
    return -(torch.log2(p_observed) * batch.mask.to(torch.float64)).sum(0)  # [B]


@dataclass(frozen=True)
class NGramsTask(TaskFields):
    """Dynamic N-grams task; see the module docstring for the exact batch layout.

    Example:
        >>> task = NGramsTask(n=6, length=200)
        >>> batch = task.sample(2, level=1, generator=torch.Generator().manual_seed(0))
        >>> tuple(batch.inputs.shape), tuple(task.bayes_optimal_cost(batch).shape)
        ((199, 2, 1), (2,))
    """

    n: int = 6
    length: int = 200

    def __post_init__(self) -> None:
        check_int("n", self.n, 1)
        check_int("length", self.length, 2)
        self._set_task_fields(
            name="ngrams", input_size=1, output_size=1, max_level=1, objective="bayes_gap"
        )

    def sample(self, batch_size: int, level: int, generator: torch.Generator) -> Batch:
        check_int("level", level, 1)
        return self.sample_exact(batch_size, self.length, generator)

    def sample_exact(self, batch_size: int, size: int, generator: torch.Generator) -> Batch:
        check_int("batch_size", batch_size, 1)
        check_int("size", size, 2)
        tables = draw_tables(batch_size, self.n, generator)  # [B, C]
        uniforms = torch.rand(size, batch_size, generator=generator, device=generator.device)
        bits = markov_bits(tables, uniforms, self.n).to(torch.float32)  # [L, B]
        return Batch(
            inputs=bits[:-1].unsqueeze(-1),  # [T, B, 1]
            targets=bits[1:].unsqueeze(-1),  # [T, B, 1]
            mask=torch.ones_like(bits[1:]),  # [T, B]
            lengths=torch.full((batch_size,), size - 1, dtype=torch.int64, device=bits.device),
        )

    def describe_level(self, level: int) -> str:
        check_int("level", level, 1)
        return f"length {self.length} bits (level has no effect)"

    def report_sizes(self) -> list[int]:
        """Half, one and two times ``length`` (the level has no effect; sizes are >= 2)."""
        return sorted({max(2, self.length // 2), self.length, 2 * self.length})

    def bayes_predictions(self, batch: Batch) -> torch.Tensor:
        """[T, B] float64 ``P(1)``; see the module-level ``bayes_predictions``."""
        return bayes_predictions(batch, self.n)

    def bayes_optimal_cost(self, batch: Batch) -> torch.Tensor:
        """[B] float64 bits; see the module-level ``bayes_optimal_cost``."""
        return bayes_optimal_cost(batch, self.n)

    def extra_scores(self, logits: torch.Tensor, batch: Batch) -> dict[str, float]:
        """``bayes_optimal_cost`` and ``bayes_gap`` (model cost minus it), bits per sequence.

        logits: [T, B, 1]. Both costs are means over the batch's sequences.
        """
        model_bits = sequence_cost_nats(logits, batch.targets, batch.mask).double() / LN2  # [B]
        optimal = self.bayes_optimal_cost(batch)  # [B]
        return {
            "bayes_optimal_cost": float(optimal.mean()),
            "bayes_gap": float((model_bits - optimal).mean()),
        }
