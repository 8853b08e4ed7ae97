"""Whether a parsed space can run: seeded random configs drawn from it, and every start
point, are turned into run configs and built (``ntm.build.build_run``: the same factory
the trainer uses), before any trial starts. The first that fails is a one-line SpaceError.
"""

from __future__ import annotations

from ntm.build import build_run
from ntm.errors import first_line
from search.space.format import RandomSuggester, SearchSpace, SpaceError
from search.trial.config import run_config_from_trial
from search.trial.keys import TrialSettings, trial_config

VALIDATION_SAMPLES = 64  # seeded random configs built and checked before any trial starts

__all__ = ["VALIDATION_SAMPLES", "validate_space"]


def validate_space(space: SearchSpace, settings: TrialSettings) -> None:
    """Build the run of configs drawn from the space (seeded) and of every start point."""
    draws = [
        (f"a config drawn from the space (draw {i})", RandomSuggester(i))
        for i in range(VALIDATION_SAMPLES)
    ]
    draws += [
        (f"start_points[{i}]", RandomSuggester(i, p)) for i, p in enumerate(space.start_points)
    ]
    fixed = trial_config(settings)
    for what, suggester in draws:
        config = {
            **fixed,
            **space.sample(suggester),
            "task": space.task,
            "task_params": dict(space.task_params),
        }
        try:
            build_run(run_config_from_trial(config))
        except (ValueError, TypeError) as exc:
            raise SpaceError(
                f"space {space.source}: {what} is invalid: {first_line(exc)}"
            ) from None
