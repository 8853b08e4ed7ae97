"""StagedScheduler: the level as a step function of sequences seen."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from curricula import CLASSIC_STAGES, StagedScheduler


def levels(sched: StagedScheduler, sequences: Sequence[float]) -> list[int]:
    return [sched.observe(step, {"sequences": n}).level for step, n in enumerate(sequences)]


def test_classic_schedule_switches_exactly_at_thresholds() -> None:
    sched = StagedScheduler()
    # The default is the classic copy schedule 1-5, 1-10, 1-20.
    assert sched.stages == CLASSIC_STAGES == ((0, 5), (20_000, 10), (50_000, 20))
    # Rule 2: the stage with threshold 0 sets the level before any report.
    assert sched.level == 5
    # Rule 3: the level changes at sequences == threshold, not one sequence earlier.
    seen = [0, 19_999, 20_000, 49_999, 50_000, 90_000]
    assert levels(sched, seen) == [5, 5, 10, 10, 20, 20]
    assert sched.history == [(2, 10), (4, 20)]
    assert sched.at_target


def test_crossing_several_stages_is_one_change() -> None:
    sched = StagedScheduler()
    # Rule 3: a report past two thresholds goes straight to the last stage's level.
    decision = sched.observe(3, {"sequences": 60_000})
    assert (decision.level, decision.raised, sched.history) == (20, True, [(3, 20)])


def test_before_the_first_stage_the_level_is_start_level() -> None:
    sched = StagedScheduler(start_level=2, target_level=8, stages=[[100, 4], [200, 8]])
    # Rule 2: with no stage at 0 the level starts at start_level.
    assert levels(sched, [0, 99, 100, 200]) == [2, 2, 4, 8]


def test_level_never_goes_down() -> None:
    sched = StagedScheduler()
    # Rule 3: a smaller sequence count later (e.g. a reset counter) does not lower the level.
    assert levels(sched, [30_000, 0]) == [10, 10]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_sequences_are_counted_and_ignored(bad: float) -> None:
    sched = StagedScheduler()
    # Rule 4: a non-finite sequences count changes nothing but the counter.
    assert levels(sched, [bad, 25_000]) == [5, 10]
    assert sched.state_dict()["nonfinite_reports"] == 1


def test_loss_is_not_read() -> None:
    # Rule 4: only sequences is read, so a NaN loss does not matter.
    assert StagedScheduler().observe(0, {"sequences": 0, "loss": float("nan")}).level == 5
    # sequences is required.
    with pytest.raises(ValueError, match="sequences"):
        StagedScheduler().observe(0, {"loss": 1.0})


@pytest.mark.parametrize(
    ("stages", "match"),
    [
        ([], "stages must be a non-empty list"),
        ([[0, 5], [100]], r"stages\[1\] must be a \[sequences_threshold, level\] pair"),
        ([[0, 5], [0, 10]], "stages thresholds must be strictly ascending"),
        ([[100, 5], [50, 10]], "stages thresholds must be strictly ascending"),
        ([[0, 10], [100, 5]], "stages levels must be non-decreasing"),
        ([[0, 5], [100, 21]], r"stages\[1\]\[1\] \(a level\) must be in \[1, 20\]"),
        ([[0, 0]], r"stages\[0\]\[1\] must be >= 1"),
        ([[-1, 5]], r"stages\[0\]\[0\] must be >= 0"),
        ([[0.5, 5]], r"stages\[0\]\[0\] must be an int"),
        ("0,5", "stages must be a non-empty list"),
    ],
)
def test_bad_stages(stages: object, match: str) -> None:
    # Bad stages give a ValueError naming the stage entry and what is allowed.
    with pytest.raises(ValueError, match=match):
        StagedScheduler(stages=stages)  # type: ignore[arg-type]


def test_default_stages_need_target_20() -> None:
    # CLASSIC_STAGES reaches level 20, so a lower target_level must pass its own stages.
    with pytest.raises(ValueError, match=r"must be in \[1, 10\]"):
        StagedScheduler(target_level=10)
