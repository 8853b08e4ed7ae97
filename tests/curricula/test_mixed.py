"""MixedScheduler: plateau rules for the level, uniform draws at the configured rate."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from curricula import MixedScheduler, PlateauScheduler

DRAWS = 20_000


def frequencies(sched: MixedScheduler, seed: int = 0) -> Counter[int]:
    rng = random.Random(seed)
    return Counter(sched.next_level(rng) for _ in range(DRAWS))


def test_level_frequencies_match_uniform_fraction() -> None:
    sched = MixedScheduler(start_level=1, target_level=20, uniform_fraction=0.2)
    for step in range(4):  # four mastered reports: level 1 -> 5
        sched.observe(step, {"loss": 1.0, "bit_errors": 0.0})
    assert sched.level == 5
    counts = frequencies(sched)
    # Rule 2: the current level comes up 1 - 0.2 + 0.2 / 20 = 0.81 of the time ...
    assert counts[5] / DRAWS == pytest.approx(0.81, abs=0.02)
    # ... and every other level 0.2 / 20 = 0.01 of the time, from the uniform draws.
    for level in set(range(1, 21)) - {5}:
        assert counts[level] / DRAWS == pytest.approx(0.01, abs=0.005)
    # Levels outside start..target never come up.
    assert set(counts) == set(range(1, 21))


def test_fraction_zero_and_one() -> None:
    # Rule 2: uniform_fraction=0 always trains at the current level.
    assert set(frequencies(MixedScheduler(uniform_fraction=0.0))) == {1}
    counts = frequencies(MixedScheduler(start_level=3, target_level=6, uniform_fraction=1.0))
    # Rule 2: uniform_fraction=1 is uniform over start_level..target_level.
    for level in range(3, 7):
        assert counts[level] / DRAWS == pytest.approx(0.25, abs=0.02)


def test_equal_rng_states_give_equal_levels() -> None:
    sched = MixedScheduler(uniform_fraction=0.5)
    a, b = random.Random(7), random.Random(7)
    # Rule 2: the draw depends only on the rng state and the scheduler.
    assert [sched.next_level(a) for _ in range(100)] == [sched.next_level(b) for _ in range(100)]


def test_level_follows_the_plateau_rule() -> None:
    params = {"patience": 2, "min_delta": 0.05, "cooldown": 1, "mastery_threshold": 0.5}
    mixed = MixedScheduler(uniform_fraction=0.3, **params)  # type: ignore[arg-type]
    plateau = PlateauScheduler(**params)  # type: ignore[arg-type]
    stream = [(2.0, 1.0), (2.0, 1.0), (float("nan"), 1.0), (2.0, 1.0), (1.0, 0.1)] * 6
    for step, (loss, errors) in enumerate(stream):
        metrics = {"loss": loss, "bit_errors": errors}
        # Rule 1: the level moves exactly as PlateauScheduler's, NaN rule included.
        assert mixed.observe(step, metrics) == plateau.observe(step, metrics)
    assert mixed.history == plateau.history
    assert mixed.nonfinite_reports == plateau.nonfinite_reports == 6


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "0.2"])
def test_bad_uniform_fraction(value: object) -> None:
    # uniform_fraction must be a number in [0, 1].
    with pytest.raises(ValueError, match=r"uniform_fraction must be .*\[0, 1\]"):
        MixedScheduler(uniform_fraction=value)  # type: ignore[arg-type]


def test_plateau_params_are_checked_too() -> None:
    # The wrapped plateau parameters are validated as in PlateauScheduler.
    with pytest.raises(ValueError, match="patience"):
        MixedScheduler(patience=0)
