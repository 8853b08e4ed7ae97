"""CurriculumASHA: a curriculum trial below its target is not judged before its grace ends;
every other trial is judged as Ray's ASHA judges it (real Ray schedulers and trials)."""

from __future__ import annotations

from typing import Any

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from search.launch.asha import CurriculumASHA, climbing
from search.launch.config import SearchConfig

ASHA: dict[str, Any] = {
    "time_attr": "training_iteration",
    "metric": "objective",
    "mode": "min",
    "max_t": 20,
}
ASHA |= {"grace_period": 2, "reduction_factor": 2}
STOP, CONTINUE = TrialScheduler.STOP, TrialScheduler.CONTINUE


def report(iteration: int, objective: float, level: int, target: int = 5) -> dict[str, Any]:
    return {"training_iteration": iteration, "objective": objective, "level": level,
            "target_level": target}  # fmt: skip


def judged(scheduler: ASHAScheduler, climber_reports: list[dict[str, Any]]) -> list[str]:
    """Two trials training at the target report good objectives at iterations 2, 4 and 8;
    then the climbing trial reports; its decisions are returned."""
    direct, climber = Trial("fake", stub=True), Trial("fake", stub=True)
    for trial in (direct, climber):
        scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]
    for iteration in (2, 4, 8):
        scheduler.on_trial_result(None, direct, report(iteration, 1.0, 5))  # type: ignore[arg-type]
    return [scheduler.on_trial_result(None, climber, r) for r in climber_reports]  # type: ignore[arg-type]


def test_plain_asha_stops_a_climbing_curriculum_at_the_first_rung() -> None:
    # the bias the issue found: judged at the target while still at level 2 of 5
    assert judged(ASHAScheduler(**ASHA), [report(2, 9.0, 2)]) == [STOP]


def test_climbing_trial_is_unjudged_until_its_grace_then_judged() -> None:
    scheduler = CurriculumASHA(curriculum_grace=6, **ASHA)
    decisions = judged(scheduler, [report(2, 9.0, 2), report(4, 8.0, 3), report(6, 7.0, 4)])
    # below its target before iteration 6: not judged; at 6: judged at rung 4 against the
    # direct trial's 1.0 there, and stopped
    assert decisions == [CONTINUE, CONTINUE, STOP]


def test_trial_at_its_target_is_judged_at_once() -> None:
    scheduler = CurriculumASHA(curriculum_grace=6, **ASHA)
    # reached the target (level 5 of 5) at iteration 2, and worse than the direct trial
    assert judged(scheduler, [report(2, 9.0, 5)]) == [STOP]
    # a good climber that reached its target is kept, as by plain ASHA
    assert judged(CurriculumASHA(curriculum_grace=6, **ASHA), [report(2, 0.5, 5)]) == [CONTINUE]


def test_climbing_needs_both_levels() -> None:
    assert climbing(report(1, 0.0, 2)) and not climbing(report(1, 0.0, 5))
    assert not climbing({"level": 2})  # a report without target_level is judged normally


def test_curriculum_grace_default_and_bounds() -> None:
    # default: 3 x ASHA's grace (10% of the iterations), at most --max-iterations
    assert SearchConfig(max_iterations=100).curriculum_grace_iterations == 30
    assert SearchConfig(max_iterations=4, grace_period=2).curriculum_grace_iterations == 4
    assert SearchConfig(curriculum_grace=7).curriculum_grace_iterations == 7
    with pytest.raises(ValueError, match="--curriculum-grace must be >= 1"):
        SearchConfig(curriculum_grace=0)
