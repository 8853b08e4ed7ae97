"""A search space as a population for population-based training (``--scheduler pbt|pb2``):
the initial ``param_space`` in Ray's own sample domains, and the parameters PBT explores.

Ray's PBT refuses a search algorithm beside it, so the space is not sampled through Optuna.
Its rules, in order:

1. **Explored**: ``lr`` and every curriculum parameter (``search.trial.keys``) that the space
   searches with a range (``int``, ``uniform``, ``loguniform``) and that is active under the
   population's curriculum. They start at a draw from their range and are what PBT mutates
   (``mutations``: resampled, or multiplied by 0.8 or 1.2) and PB2 chooses (``bounds``);
   every new value is clipped to the range and its step (``clip``).
2. **The population's curriculum**: the space's fixed ``curriculum``; if it is a choice, the
   choice under which the most parameters are explored (ties: the first listed), e.g. ``mixed``
   in ``search/spaces/copy.yaml``. Fix ``curriculum`` in a space file to choose another.
3. **Fixed by the first start point**: every other parameter that the space's first start
   point sets has that value in every trial (copy: the measured recipe's model).
4. **Sampled once per trial**: the rest, with Ray domains (``tune.choice``, ``tune.randint``,
   ``tune.uniform``, ``tune.loguniform``); an exploit copies the whole config of the trial
   it copies, so weights always meet their own architecture.
5. A conditional parameter (``when:``) is kept when its condition holds for the fixed values;
   a condition on a parameter that is still sampled or explored is a ``SpaceError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray import tune

from search.space.format import Param, SearchSpace, SpaceError
from search.trial.keys import CURRICULUM_PARAM_KEYS

RANGES = ("int", "uniform", "loguniform")
EXPLORABLE = frozenset({"lr", *CURRICULUM_PARAM_KEYS})

__all__ = ["EXPLORABLE", "Population", "population", "ray_domain"]


def ray_domain(param: Param) -> Any:
    """The parameter as Ray's sample domain (a plain value stays a value); bounds inclusive."""
    if param.kind == "value":
        return param.values[0]
    if param.kind == "choice":
        return tune.choice(list(param.values))
    low, high = param.values
    if param.kind == "int":
        step = int(param.step or 1)
        return tune.randint(low, high + 1) if step == 1 else tune.choice(_grid(param))
    if param.kind == "loguniform":
        return tune.loguniform(low, high)
    return tune.quniform(low, high, param.step) if param.step else tune.uniform(low, high)


def _grid(param: Param) -> list[int]:
    low, high = param.values
    return list(range(int(low), int(high) + 1, int(param.step or 1)))


def _clip(param: Param, value: Any) -> Any:
    """``value`` in the parameter's range, on its step grid (ints rounded)."""
    low, high = param.values
    if param.step:
        value = low + round((value - low) / param.step) * param.step
    value = min(max(value, low), high)
    return int(round(value)) if param.kind == "int" else float(value)


@dataclass(frozen=True)
class Population:
    """The initial ``param_space`` (domains and values) and the explored parameters."""

    param_space: Mapping[str, Any]
    explored: tuple[Param, ...]
    curriculum: str

    def mutations(self) -> dict[str, Any]:
        """PBT's ``hyperparam_mutations``: each explored parameter's Ray domain."""
        return {p.name: ray_domain(p) for p in self.explored}

    def bounds(self) -> dict[str, Any]:
        """PB2's ``hyperparam_bounds`` (PB2 models them on a linear scale)."""
        return {p.name: [float(p.values[0]), float(p.values[1])] for p in self.explored}

    def clip(self, config: dict[str, Any]) -> dict[str, Any]:
        """PBT/PB2's ``custom_explore_fn``: explored values back in their ranges and steps."""
        return {**config, **{p.name: _clip(p, config[p.name]) for p in self.explored}}


def _explorable(param: Param, fixed: Mapping[str, Any]) -> bool:
    return param.name in EXPLORABLE and param.kind in RANGES and param.active(fixed)


def _curriculum(space: SearchSpace) -> str:
    """Rule 2: the fixed curriculum, or the choice under which the most parameters explore."""
    param = next((p for p in space.params if p.name == "curriculum"), None)
    if param is None:
        return "none"
    choices = param.possible() or ()

    def explored(name: str) -> int:
        return sum(_explorable(p, {"curriculum": name}) for p in space.params)

    return str(max(choices, key=explored))  # max keeps the first of equals


def population(space: SearchSpace) -> Population:
    """The space as a PBT population (rules 1-5 of the module docstring)."""
    curriculum = _curriculum(space)
    start = dict(space.start_points[0]) if space.start_points else {}
    fixed: dict[str, Any] = {"curriculum": curriculum}
    param_space: dict[str, Any] = {"curriculum": curriculum}
    explored: list[Param] = []
    for param in space.params:
        if param.name == "curriculum":
            continue
        sampled = [p for p in param.when if p not in fixed]
        if sampled:
            raise SpaceError(
                f"{space.source}: params.{param.name}: with --scheduler pbt|pb2 a condition "
                f"must be on fixed parameters, but {sampled} are searched; fix them in the "
                "space or its first start point"
            )
        if not param.active(fixed):
            continue
        if _explorable(param, fixed):
            explored.append(param)
            param_space[param.name] = ray_domain(param)
        elif param.name in start:
            fixed[param.name] = param_space[param.name] = start[param.name]
        else:
            param_space[param.name] = ray_domain(param)
            if param.kind == "value":
                fixed[param.name] = param.values[0]
    return Population(param_space, tuple(explored), curriculum)
