"""NoneScheduler: the baseline trains on the full range from the start."""

from __future__ import annotations

import random

import pytest

from curricula import CurriculumConfig, NoneScheduler, make_scheduler


def test_stays_at_target() -> None:
    sched = NoneScheduler(start_level=1, target_level=20)
    # Rule 1: the level is target_level before any report ...
    assert (sched.level, sched.at_target) == (20, True)
    for step in range(50):
        decision = sched.observe(step, {"loss": 0.0, "bit_errors": 0.0, "sequences": step})
        # ... and after every report, with no raise.
        assert (decision.level, decision.raised) == (20, False)
    assert sched.history == []


def test_nonfinite_metrics_change_nothing() -> None:
    sched = NoneScheduler()
    # Rule 2: no metric is read, so NaN is neither used nor counted.
    assert sched.observe(0, {"loss": float("nan")}).level == 20
    assert sched.nonfinite_reports == 0


def test_next_level_draws_nothing() -> None:
    rng = random.Random(3)
    before = rng.getstate()
    # Rule 3: next_level is target_level and leaves the trainer's rng untouched.
    assert NoneScheduler(target_level=12).next_level(rng) == 12
    assert rng.getstate() == before


def test_takes_no_params() -> None:
    # The null curriculum has no parameters; any key is unknown.
    with pytest.raises(ValueError, match=r"must use keys from \[\]"):
        make_scheduler(CurriculumConfig(name="none", params={"patience": 3}))
