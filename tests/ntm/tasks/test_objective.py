"""Each task's declared objective, repeat copy's marker accuracy and N-grams' Bayes gap."""

from __future__ import annotations

import pytest
import torch

from ntm.config import NTMConfig
from ntm.evaluate import evaluate_sizes
from ntm.metrics import LN2, sequence_cost_nats
from ntm.tasks import (
    NGramsTask,
    RepeatCopyTask,
    TaskConfig,
    bayes_optimal_cost,
    make_task,
    task_scores,
)
from ntm.tasks.base import Batch
from ntm.tasks.repeat_copy import marker_correct
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import _EVAL_SEED_OFFSET, Trainer
from tests.ntm.tasks.helpers import seeded

_CONFIDENT = 8.0  # |logit| of a confident output bit


def _padded(batch: Batch, extra: int) -> Batch:
    """``batch`` with ``extra`` all-zero padding steps appended (lengths unchanged)."""

    def pad(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x.new_zeros(extra, *x.shape[1:])])

    return Batch(pad(batch.inputs), pad(batch.targets), pad(batch.mask), batch.lengths)


@pytest.mark.parametrize(
    "name,objective",
    [
        ("copy", "bit_errors"),
        ("repeat_copy", "bit_errors"),
        ("associative_recall", "bit_errors"),
        ("priority_sort", "bit_errors"),
        ("ngrams", "bayes_gap"),
    ],
)
def test_each_task_declares_its_objective(name: str, objective: str) -> None:
    task = make_task(name)
    batch = task.sample(3, task.max_level, seeded(0))
    scores = task_scores(task, torch.randn(batch.targets.shape), batch)
    # the table: bit errors per sequence, except the Bayes gap for N-grams
    assert task.objective == objective
    # task_scores copies the declared score into "objective"
    assert scores["objective"] == scores[objective]


def test_marker_accuracy_on_hand_built_outputs() -> None:
    task = RepeatCopyTask(bits=2, max_repeats=4)
    # 7 sequences of length 2 repeated twice: T = 8, scored steps 3..7, marker at step 7;
    # two padding steps (8, 9) are appended, as in a batch with longer sequences.
    batch = _padded(task.sample_exact(7, size=2, generator=seeded(0), repeats=2), extra=2)
    logits = (2 * batch.targets - 1) * _CONFIDENT  # every bit right, marker only at step 7
    marker = logits[..., -1]  # [T, B], a view: the edits below change logits
    marker[7, 1], marker[5, 1] = -_CONFIDENT, _CONFIDENT  # 1: early (step 5, not 7)
    marker[7, 2], marker[8, 2] = -_CONFIDENT, _CONFIDENT  # 2: late (after its last step)
    marker[7, 3] = -_CONFIDENT  # 3: missing
    marker[6, 4] = _CONFIDENT  # 4: repeated (steps 6 and 7)
    marker[1, 5] = _CONFIDENT  # 5: also "emitted" at an unscored input step: ignored
    marker[9, 6] = _CONFIDENT  # 6: also "emitted" in the padding: ignored
    # right, early, late, missing, repeated, right (unscored), right (padding)
    assert marker_correct(logits, batch).tolist() == [True, False, False, False, False, True, True]
    scores = task_scores(task, logits, batch)
    # marker_accuracy is the fraction of right sequences, reported beside the objective
    assert scores["marker_accuracy"] == pytest.approx(3 / 7)
    # bit errors count the same marker mistakes: 2 + 1 + 1 + 1 wrong marker bits over 7
    assert scores["objective"] == scores["bit_errors"] == pytest.approx(5 / 7)


def test_ngrams_objective_is_the_gap_to_the_bayes_optimal_cost() -> None:
    task = NGramsTask(n=6, length=200)
    batch = task.sample(16, 1, seeded(3))
    optimal = bayes_optimal_cost(batch, 6)  # [B]
    # known answer: logits 0 predict 1/2 everywhere, exactly 1 bit for each of 199 steps
    scores = task_scores(task, torch.zeros(batch.targets.shape), batch)
    assert scores["loss"] == pytest.approx(199.0, rel=1e-6)
    assert scores["bayes_optimal_cost"] == pytest.approx(float(optimal.mean()))
    assert scores["objective"] == pytest.approx(199.0 - float(optimal.mean()), rel=1e-6)
    # the Bayes predictor's own probabilities, as logits, close the gap to zero
    p = _bayes_probabilities(batch, 6)  # [T, B]
    exact = task_scores(task, torch.logit(p).float().unsqueeze(-1), batch)
    assert exact["objective"] == pytest.approx(0.0, abs=1e-3)
    assert exact["bayes_gap"] == exact["objective"]


def _bayes_probabilities(batch: Batch, n: int) -> torch.Tensor:
    """P(next bit = 1) of the optimal predictor, by a plain loop: [T, B] float64."""
    bits = torch.cat([batch.inputs[:1, :, 0], batch.targets[..., 0]]).round().long()  # [T+1, B]
    num_steps, batch_size = batch.targets.shape[:2]
    out = torch.full((num_steps, batch_size), 0.5, dtype=torch.float64)
    for b in range(batch_size):
        counts: dict[tuple[int, ...], list[int]] = {}
        for t in range(n - 2, num_steps):
            context = tuple(bits[t + 2 - n : t + 1, b].tolist())
            zeros, ones = counts.setdefault(context, [0, 0])
            out[t, b] = (ones + 0.5) / (zeros + ones + 1)
            counts[context][int(bits[t + 1, b])] += 1
    return out


def test_trainer_and_evaluate_report_the_ngrams_gap() -> None:
    config = RunConfig(
        task=TaskConfig(name="ngrams", params={"n": 3, "length": 30}),
        model=NTMConfig(controller_size=8, memory_n=8, memory_m=4),
        train=TrainConfig(batch_size=4, steps=4, report_every=2, eval_every=2, eval_batch=8),
    )
    trainer = Trainer(config)
    last = trainer.run()[-1]
    # the same gap, computed by hand on the trainer's fixed evaluation batch
    gen = torch.Generator().manual_seed(config.train.seed + _EVAL_SEED_OFFSET)
    batch = trainer.task.sample(8, 1, gen)
    with torch.no_grad():
        logits = trainer.model.forward_sequence(batch.inputs)[0]
    model_bits = sequence_cost_nats(logits, batch.targets, batch.mask) / LN2  # [B]
    gap = float((model_bits.double() - bayes_optimal_cost(batch, 3)).mean())
    # the report's objective is the eval cost minus the Bayes-optimal cost, both reported
    assert last["objective"] == pytest.approx(gap, rel=1e-5)
    assert last["objective"] == pytest.approx(last["eval_loss"] - last["eval_bayes_optimal_cost"])
    assert trainer.evaluate()["objective"] == pytest.approx(last["objective"])
    # ntm.evaluate scores a size the same way (its own seeded batch at that size)
    row = evaluate_sizes(trainer.model, trainer.task, [30], batch_size=8)[0]
    assert row["objective"] == pytest.approx(row["cost_bits"] - row["bayes_optimal_cost"])
