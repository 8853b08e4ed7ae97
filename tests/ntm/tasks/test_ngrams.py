from __future__ import annotations

import math

import pytest
import torch

from ntm.tasks import NGramsTask, Task, bayes_optimal_cost
from ntm.tasks.base import Batch
from ntm.tasks.ngrams import draw_tables, markov_bits
from tests.ntm.tasks.helpers import check_batch, check_reproducible, seeded


def _batch_from_bits(bits: list[int], mask: list[float] | None = None) -> Batch:
    """One sequence x_0..x_L as a batch: inputs x_0..x_{L-1}, targets x_1..x_L."""
    seq = torch.tensor(bits, dtype=torch.float32).reshape(-1, 1, 1)  # [L, 1, 1]
    scored = torch.ones(len(bits) - 1, 1) if mask is None else torch.tensor(mask).reshape(-1, 1)
    return Batch(seq[:-1], seq[1:], scored, torch.tensor([len(bits) - 1]))


def _reference_cost(bits: list[int], mask: list[float], n: int) -> float:
    """Brute-force Bayes cost: a dict of counts per context, one step at a time."""
    counts: dict[tuple[int, ...], list[int]] = {}
    cost = 0.0
    for t, scored in enumerate(mask):
        target = bits[t + 1]
        if not scored:
            continue
        if t + 1 < n - 1:  # incomplete context: a uniform bit
            cost += 1.0
            continue
        context = tuple(bits[t + 2 - n : t + 1])
        n0, n1 = counts.setdefault(context, [0, 0])
        p_one = (n1 + 0.5) / (n0 + n1 + 1)
        cost -= math.log2(p_one if target == 1 else 1 - p_one)
        counts[context][target] += 1
    return cost


def test_implements_protocol_with_documented_sizes() -> None:
    task = NGramsTask()
    # The class satisfies the Task protocol; one bit in, one bit out, a single level.
    assert isinstance(task, Task)
    assert (task.name, task.input_size, task.output_size, task.max_level) == ("ngrams", 1, 1, 1)


def test_batch_is_next_bit_prediction() -> None:
    task = NGramsTask(n=6, length=200)
    batch = task.sample(4, level=1, generator=seeded(0))
    check_batch(task, batch, 4)
    # 200 bits give 199 prediction steps, all scored.
    assert batch.lengths.tolist() == [199] * 4 and batch.mask.sum().item() == 4 * 199
    # The target of step t is the input of step t + 1 (the next bit).
    assert torch.equal(batch.targets[:-1], batch.inputs[1:])
    # Inputs are bits.
    assert set(batch.inputs.unique().tolist()) <= {0.0, 1.0}


def test_level_is_ignored_and_exact_size_sets_length() -> None:
    task = NGramsTask(length=50)
    # Level has no effect: the same seed gives the same batch at any level.
    a = task.sample(2, level=1, generator=seeded(1))
    b = task.sample(2, level=7, generator=seeded(1))
    assert torch.equal(a.inputs, b.inputs)
    assert task.describe_level(3) == "length 50 bits (level has no effect)"
    # sample_exact(size) draws size-bit sequences.
    assert task.sample_exact(2, size=500, generator=seeded(1)).lengths.tolist() == [499, 499]


def test_tables_follow_beta_half_half() -> None:
    p = draw_tables(3125, 6, seeded(2)).flatten()  # 100_000 draws
    # Beta(1/2, 1/2): mean 1/2, variance 1/8, CDF(0.1) = (2/pi) asin(sqrt(0.1)).
    assert p.mean().item() == pytest.approx(0.5, abs=0.01)
    assert p.var().item() == pytest.approx(0.125, abs=0.01)
    expected = 2 / math.pi * math.asin(math.sqrt(0.1))
    assert (p < 0.1).float().mean().item() == pytest.approx(expected, abs=0.01)


def test_markov_bits_known_answer() -> None:
    # n = 2, P(1 | previous 0) = 1, P(1 | previous 1) = 0: the chain alternates after x_0.
    tables = torch.tensor([[1.0, 0.0]])
    bits = markov_bits(tables, torch.full((6, 1), 0.3), n=2)
    assert bits.flatten().tolist() == [1, 0, 1, 0, 1, 0]


def test_markov_bits_matches_loop_reference() -> None:
    n, g = 4, seeded(3)
    tables = draw_tables(5, n, g)
    uniforms = torch.rand(40, 5, generator=g)
    bits = markov_bits(tables, uniforms, n)
    for b in range(5):
        seq: list[int] = []
        for i in range(40):
            context = sum(seq[i - d] << (d - 1) for d in range(1, n)) if i >= n - 1 else -1
            p = 0.5 if context < 0 else float(tables[b, context])
            seq.append(int(float(uniforms[i, b]) < p))
        # Bit i is Bernoulli(table[previous n-1 bits, newest = least significant]).
        assert bits[:, b].tolist() == seq


def test_bayes_cost_hand_computed() -> None:
    # Sequence 0 1 1 0 1 1 with n = 2 (one context bit). Predictions of x_1..x_5:
    # ctx 0 fresh: 1/2; ctx 1 fresh: 1/2; ctx 1 after one 1: P(0) = 1/4;
    # ctx 0 after one 1: P(1) = 3/4; ctx 1 after one 1 and one 0: P(1) = 1/2.
    batch = _batch_from_bits([0, 1, 1, 0, 1, 1])
    expected = 1 + 1 + 2 + math.log2(4 / 3) + 1
    assert bayes_optimal_cost(batch, n=2).item() == pytest.approx(expected)
    # With n = 3, x_1 has no full context (1 bit), contexts 01, 11, 10 are fresh (1 bit each),
    # then context 01 again after one 1 predicts x_5 = 1 with P = 3/4.
    assert bayes_optimal_cost(batch, n=3).item() == pytest.approx(4 + math.log2(4 / 3))


def test_bayes_cost_matches_loop_reference_on_sampled_batches() -> None:
    for n in (1, 3, 6):
        task = NGramsTask(n=n, length=80)
        batch = task.sample(3, level=1, generator=seeded(4 + n))
        # Unscored steps (as padding would be) neither cost nor update the counts.
        batch = Batch(batch.inputs, batch.targets, batch.mask.clone(), batch.lengths)
        batch.mask[60:, 2] = 0.0
        cost = task.bayes_optimal_cost(batch)
        assert cost.shape == (3,) and cost.dtype == torch.float64
        for b in range(3):
            bits = [int(batch.inputs[0, b, 0])] + batch.targets[:, b, 0].int().tolist()
            expected = _reference_cost(bits, batch.mask[:, b].tolist(), n)
            # The vectorised predictor matches the brute-force formula.
            assert cost[b].item() == pytest.approx(expected, rel=1e-9)


def test_bayes_predictor_beats_uniform_guessing() -> None:
    batch = NGramsTask().sample(16, level=1, generator=seeded(9))
    # On 199 predictions the optimal predictor needs fewer than 199 bits on average.
    assert bayes_optimal_cost(batch, n=6).mean().item() < 199 * 0.9


def test_reproducible() -> None:
    task = NGramsTask()
    check_reproducible(lambda g: task.sample(4, level=1, generator=g))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 0}, "n must be an int >= 1, but got n=0"),
        ({"length": 1}, "length must be an int >= 2, but got length=1"),
    ],
)
def test_bad_params(params: dict[str, int], message: str) -> None:
    # Invalid parameters raise ValueError naming the field and value.
    with pytest.raises(ValueError, match=message):
        NGramsTask(**params)
