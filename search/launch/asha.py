"""ASHA that judges a curriculum trial at its target difficulty, not while it still climbs.

Every trial reports ``objective`` at the task's *target* level. A trial with a curriculum
trains at easier levels first, so at ASHA's first rungs it is compared, at the target, with
trials that trained at the target from the start, and it loses (measured on copy: 8 of 8
curriculum trials stopped at the first rung, ``benchmarks/RESULTS.md``). ``CurriculumASHA``
gives such a trial a longer grace: while its report's ``level`` is below its
``target_level``, and for at most ``curriculum_grace`` iterations, it is not judged (Ray's
rungs do not record it). From then on it is judged as any trial, at the first rung it has
passed and not been judged at: against the others' results at that rung, with the extra
training it had (the grace is in its favour, not neutral). Trials without a curriculum
(level = target from the start) are unaffected.
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

__all__ = ["CurriculumASHA", "climbing"]


def climbing(result: dict[str, Any]) -> bool:
    """The report was made below the trial's target difficulty (its curriculum climbs)."""
    level, target = result.get("level"), result.get("target_level")
    return level is not None and target is not None and level < target


class CurriculumASHA(ASHAScheduler):
    """``ASHAScheduler`` that does not judge a climbing curriculum trial before
    ``curriculum_grace`` iterations (see the module docstring)."""

    def __init__(self, *, curriculum_grace: int, **asha: Any) -> None:
        super().__init__(**asha)
        if curriculum_grace < 1:
            raise ValueError(f"curriculum_grace must be >= 1, but got {curriculum_grace}")
        self.curriculum_grace = curriculum_grace

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        iteration = result.get(self._time_attr)
        if (
            iteration is not None
            and iteration < min(self.curriculum_grace, self._max_t)
            and climbing(result)
        ):
            return str(TrialScheduler.CONTINUE)
        return str(super().on_trial_result(tune_controller, trial, result))
