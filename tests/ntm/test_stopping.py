"""ntm.stopping: the stop and solved rules on hand-written histories, and the trainer."""

from __future__ import annotations

import dataclasses

from curricula import CurriculumConfig
from ntm.config import NTMConfig
from ntm.stopping import SOLVED, STEPS, TIME, solved_streak, stop_reason
from ntm.tasks import TaskConfig
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import Trainer

TARGET = 5


def entry(step: int, objective: float | None, *, level: int = TARGET, elapsed: float = 1.0):
    out = {"step": step, "level": level, "elapsed": elapsed}
    return out if objective is None else {**out, "objective": objective}


def test_solved_streak_counts_trailing_solved_reports_only() -> None:
    history = [entry(1, 0.0), entry(2, 0.5), entry(3, 0.0), entry(4, 0.001)]
    # two solved at the end; the unsolved report at step 2 ends the streak
    assert solved_streak(history, target_level=TARGET, below=0.01) == 2
    # below the target level a perfect objective is not solved
    assert solved_streak([entry(1, 0.0, level=4)], target_level=TARGET, below=0.01) == 0
    # a report without an evaluation breaks a streak
    assert solved_streak([entry(1, 0.0), entry(2, None)], target_level=TARGET, below=0.01) == 0


def test_stop_rules_in_order() -> None:
    train = TrainConfig(steps=10, max_seconds=5.0, stop_bit_errors=0.01, solved_reports=2)
    # rule 1: the step limit, whatever else holds
    assert stop_reason(train, [entry(10, 0.0, elapsed=9.0)], target_level=TARGET) == STEPS
    # rule 2: the time limit at a report boundary
    assert stop_reason(train, [entry(4, 1.0, elapsed=5.0)], target_level=TARGET) == TIME
    # rule 3: solved needs solved_reports in a row
    one = [entry(3, 1.0), entry(4, 0.0)]
    assert stop_reason(train, one, target_level=TARGET) is None
    assert stop_reason(train, [*one, entry(5, 0.0)], target_level=TARGET) == SOLVED
    # no stop_bit_errors: never solved
    never = dataclasses.replace(train, stop_bit_errors=None)
    assert stop_reason(never, [entry(4, 0.0), entry(5, 0.0)], target_level=TARGET) is None


def test_trainer_marks_its_last_report_with_the_rule() -> None:
    config = RunConfig(
        task=TaskConfig("copy", {"min_length": 1, "max_length": 2}),
        model=NTMConfig(controller_size=8, memory_n=8, memory_m=4),
        curriculum=CurriculumConfig(name="none"),
        train=TrainConfig(batch_size=4, steps=9, report_every=3, eval_every=3, eval_batch=4),
    )
    reasons = []
    history = Trainer(config).run(lambda r: reasons.append(r.stop_reason) and None)
    # three reports; only the last says why the run ended (the step limit)
    assert reasons == [None, None, STEPS]
    assert history[-1]["stop_reason"] == STEPS
    # every evaluated report carries the objective, today the eval bit errors per sequence
    assert all(h["objective"] == h["eval_bit_errors"] for h in history)
