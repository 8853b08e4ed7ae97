"""The trial scheduler of a search (``--scheduler``): ASHA beside the Optuna searcher
(``search.launch.asha.CurriculumASHA``), or
population-based training, PBT or PB2, with the space as a population
(``search.space.population``) and no searcher (Ray's PBT refuses one).

PBT and PB2 perturb every ``SearchConfig.perturbation`` iterations (``training_iteration``):
a trial in the lowest quarter of the population copies the checkpoint and config of one in
the top quarter (the exploit) and explores: PBT resamples (p = 0.25) or multiplies by 0.8 or
1.2 each explored value, PB2 chooses them with a GP bandit; values are clipped to the space.
A trial's last report (``status: completed``) is not a perturbation: copying a finished run
leaves nothing to train.
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler
from ray.tune.schedulers.pb2 import PB2

from ntm.cli import UsageError
from search.launch.asha import CurriculumASHA
from search.space.population import Population
from search.trial.status import COMPLETED

SCHEDULER_NAMES = ("asha", "pbt", "pb2")
POPULATION_SCHEDULERS = ("pbt", "pb2")
_TIME_ATTR = "training_iteration"

__all__ = ["POPULATION_SCHEDULERS", "SCHEDULER_NAMES", "check_scheduler", "make_scheduler"]


class _PBT(PopulationBasedTraining):
    """PBT that leaves a trial's last report alone (no exploit of or into a finished run)."""

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        if result.get("status") == COMPLETED:
            return TrialScheduler.CONTINUE
        return str(super().on_trial_result(tune_controller, trial, result))


class _PB2(_PBT, PB2):
    """PB2, with the same rule."""


def check_scheduler(name: str) -> None:
    """A UsageError (one line) unless ``name`` is a known scheduler."""
    if name not in SCHEDULER_NAMES:
        raise UsageError(f"--scheduler must be one of {list(SCHEDULER_NAMES)}, but got {name!r}")


def make_scheduler(
    name: str,
    *,
    curriculum_grace: int,
    max_t: int,
    interval: int,
    reduction_factor: float,
    population: Population | None = None,
) -> TrialScheduler:
    """ASHA (grace period ``interval``, ``curriculum_grace`` for climbing curriculum trials),
    or PBT/PB2 over ``population`` every ``interval``."""
    check_scheduler(name)
    if name == "asha":
        return CurriculumASHA(
            curriculum_grace=curriculum_grace,
            time_attr=_TIME_ATTR,
            max_t=max_t,
            grace_period=interval,
            reduction_factor=reduction_factor,
        )
    if population is None:
        raise ValueError(f"--scheduler {name} needs the space's population, but got None")
    if name == "pb2":
        return _PB2(
            time_attr=_TIME_ATTR,
            perturbation_interval=interval,
            hyperparam_bounds=population.bounds(),
            custom_explore_fn=population.clip,
            log_config=False,
        )
    return _PBT(
        time_attr=_TIME_ATTR,
        perturbation_interval=interval,
        hyperparam_mutations=population.mutations(),
        custom_explore_fn=population.clip,
        log_config=False,
    )
