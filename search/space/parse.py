"""Parsing a space file's mapping into a ``SearchSpace`` (the format: ``search.space.format``):
structure, names, types and ``when`` conditions; every error one line naming the file and
field (``SpaceError``). Whether every config drawn from it builds: ``search.space.validate``.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from curricula import SCHEDULERS, scheduler_param_names
from ntm.config import NTMConfig
from ntm.tasks import TASKS
from ntm.train_config import TrainConfig
from search.space.format import (
    KINDS,
    SCHEDULE_KEYS,
    TOP_KEYS,
    Param,
    RandomSuggester,
    SearchSpace,
    SpaceError,
)
from search.trial.keys import CURRICULUM_PARAM_KEYS, SEARCHABLE_KEYS

__all__ = ["parse_schedule", "parse_space"]


def parse_space(raw: Any, *, source: str) -> SearchSpace:
    """Check the structure, names, types and conditions of a parsed space file."""

    def fail(where: str, message: str) -> typing.NoReturn:
        raise SpaceError(f"space {source}: {where}: {message}")

    if not isinstance(raw, Mapping):
        fail(
            "top level",
            f"must be a mapping with keys {list(TOP_KEYS)}, but got {type(raw).__name__}",
        )
    unknown = sorted(set(raw) - set(TOP_KEYS), key=str)
    if unknown:
        fail("top level", f"unknown key(s) {unknown}; valid keys are {list(TOP_KEYS)}")
    task = raw.get("task")
    if task not in TASKS:
        fail("task", f"must be one of {sorted(TASKS)}, but got {task!r}")
    task_params = raw.get("task_params") or {}
    if not isinstance(task_params, Mapping):
        fail("task_params", f"must be a mapping, but got {task_params!r}")
    if not isinstance(raw.get("params"), Mapping) or not raw["params"]:
        fail("params", "must be a non-empty mapping of parameter name to value or distribution")
    params: list[Param] = []
    for name, spec in raw["params"].items():
        params.append(_parse_param(str(name), spec, params, fail))
    _check_curriculum_params(params, fail)
    points = raw.get("start_points") or []
    if not isinstance(points, list) or not all(isinstance(p, Mapping) for p in points):
        fail("start_points", "must be a list of mappings of parameter name to value")
    space = SearchSpace(
        str(task),
        dict(task_params),
        tuple(params),
        tuple(dict(p) for p in points),
        source,
        parse_schedule(raw, source=source),
    )
    for i, point in enumerate(space.start_points):
        _check_point(space, i, point, fail)
    return space


def parse_schedule(raw: Any, *, source: str) -> dict[str, Any]:
    """The ``schedule`` of a parsed space file (``{}`` without one): each key one of
    ``SCHEDULE_KEYS``, each value a positive number of its type (``trial_seconds`` may be 0:
    no cap). Whether the values fit together (grace <= iterations) is SearchConfig's check."""
    schedule = raw.get("schedule") if isinstance(raw, Mapping) else None
    if schedule is None:
        return {}
    if not isinstance(schedule, Mapping):
        raise SpaceError(f"space {source}: schedule: must be a mapping, but got {schedule!r}")
    out: dict[str, Any] = {}
    for key, value in schedule.items():
        where = f"space {source}: schedule.{key}"
        kind = SCHEDULE_KEYS.get(str(key))
        if kind is None:
            raise SpaceError(f"{where}: unknown key; valid keys are {list(SCHEDULE_KEYS)}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind is int and not isinstance(value, int)):
            raise SpaceError(f"{where}: must be of type {kind.__name__}, but got {value!r}")
        if value < 0 or (value == 0 and key != "trial_seconds"):
            least = ">= 0" if key == "trial_seconds" else "> 0"
            raise SpaceError(f"{where}: must be {least}, but got {value!r}")
        out[str(key)] = kind(value)
    return out


_HINTS: dict[str, Any] = {
    **typing.get_type_hints(NTMConfig),
    **typing.get_type_hints(TrainConfig),
    "curriculum": str,
    "start_level": int,
}


def _check_type(where: str, name: str, value: Any, fail: Any) -> None:
    hint = _HINTS.get(name)
    checks: dict[Any, bool] = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
    }
    if not checks.get(hint, True):
        fail(where, f"must be of type {getattr(hint, '__name__', hint)}, but got {value!r}")


def _parse_param(name: str, spec: Any, earlier: list[Param], fail: Any) -> Param:
    where = f"params.{name}"
    if name not in SEARCHABLE_KEYS:
        fail(where, f"unknown parameter; valid parameters are {sorted(SEARCHABLE_KEYS)}")
    if any(p.name == name for p in earlier):
        fail(where, "defined twice")
    if not isinstance(spec, Mapping):
        spec = {"value": spec}
    kinds = [k for k in KINDS if k in spec]
    extra = sorted(set(spec) - set(KINDS) - {"step", "when"}, key=str)
    if len(kinds) != 1 or extra:
        fail(
            where,
            f"must have exactly one of {list(KINDS)} plus optional 'step'/'when', "
            f"but got keys {sorted(spec, key=str)}",
        )
    kind = kinds[0]
    when = _parse_when(where, spec.get("when"), earlier, fail)
    if kind == "value":
        _check_type(where, name, spec["value"], fail)
        return Param(name, kind, (spec["value"],), when=when)
    if kind == "choice":
        return Param(name, kind, _parse_choices(where, name, spec["choice"], fail), when=when)
    low, high, step = _parse_range(where, name, kind, spec, fail)
    return Param(name, kind, (low, high), step=step, when=when)


def _parse_choices(where: str, name: str, choices: Any, fail: Any) -> tuple[Any, ...]:
    if not isinstance(choices, list) or not choices:
        fail(where, f"choice must be a non-empty list, but got {choices!r}")
    for c in choices:
        if c is not None and not isinstance(c, bool | int | float | str):
            fail(where, f"choices must be scalars (None, bool, int, float, str), but got {c!r}")
        _check_type(where, name, c, fail)
    return tuple(choices)


def _parse_range(
    where: str, name: str, kind: str, spec: Mapping[str, Any], fail: Any
) -> tuple[Any, Any, Any]:
    """``[low, high]`` and ``step`` of an ``int``/``uniform``/``loguniform`` parameter."""
    bounds = spec[kind]
    numeric = (
        isinstance(bounds, list)
        and len(bounds) == 2
        and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
    )
    if not numeric:
        fail(where, f"{kind} must be a list [low, high] of two numbers, but got {bounds!r}")
    low, high = bounds
    if not low < high or (kind == "loguniform" and low <= 0):
        rule = "0 < low < high" if kind == "loguniform" else "low < high"
        fail(where, f"{kind} bounds must satisfy {rule}, but got [{low}, {high}]")
    if kind == "int" and not (isinstance(low, int) and isinstance(high, int)):
        fail(where, f"int bounds must be integers, but got [{low}, {high}]")
    step = spec.get("step")
    if step is not None and (
        kind == "loguniform" or not isinstance(step, int | float) or step <= 0
    ):
        fail(where, f"step must be a number > 0 and only with int/uniform, but got step={step!r}")
    if kind == "int" and step is not None and (not isinstance(step, int) or (high - low) % step):
        fail(
            where,
            f"int step must be an integer dividing high - low ({high - low}), but got {step!r}",
        )
    field_type = _HINTS.get(name)
    if field_type is not None and (
        field_type is not int if kind == "int" else field_type is not float
    ):
        fail(
            where,
            f"is of type {getattr(field_type, '__name__', field_type)}; "
            f"{kind} does not fit it (use choice or value)",
        )
    return low, high, step


def _parse_when(
    where: str, when: Any, earlier: list[Param], fail: Any
) -> dict[str, tuple[Any, ...]]:
    if when is None:
        return {}
    if not isinstance(when, Mapping) or not when:
        fail(where, f"when must be a mapping {{parent: value or [values]}}, but got {when!r}")
    out: dict[str, tuple[Any, ...]] = {}
    for parent, values in when.items():
        found = [p for p in earlier if p.name == parent]
        if not found or found[0].possible() is None:
            fail(
                where,
                f"when refers to {parent!r}, which must be a value/choice parameter "
                "defined earlier",
            )
        vals = tuple(values) if isinstance(values, list) else (values,)
        possible = found[0].possible() or ()
        bad = [v for v in vals if v not in possible]
        if bad:
            fail(where, f"when: {parent} can be {list(possible)}, but got {bad}")
        out[str(parent)] = vals
    return out


def _check_curriculum_params(params: list[Param], fail: Any) -> None:
    by_name = {p.name: p for p in params}
    curriculum = by_name.get("curriculum")
    names = tuple(curriculum.possible() or ()) if curriculum is not None else ("none",)
    for name in names:
        if name not in SCHEDULERS:
            fail("params.curriculum", f"must be one of {sorted(SCHEDULERS)}, but got {name!r}")
    for p in params:
        if p.name not in CURRICULUM_PARAM_KEYS:
            continue
        active_for = [n for n in names if n in p.when.get("curriculum", names)]
        for name in active_for:
            allowed = scheduler_param_names(name)
            if p.name not in allowed:
                fail(
                    f"params.{p.name}",
                    f"curriculum {name!r} takes {sorted(allowed)}, not {p.name!r}; "
                    f"limit it with when: {{curriculum: [...]}}",
                )


def _check_point(space: SearchSpace, index: int, point: Mapping[str, Any], fail: Any) -> None:
    by_name = {p.name: p for p in space.params}
    chosen = space.sample(RandomSuggester(index, point))
    for key, value in point.items():
        where = f"start_points[{index}].{key}"
        if key not in by_name:
            fail(where, f"is not a parameter of this space; its parameters are {sorted(by_name)}")
        param = by_name[key]
        if not param.contains(value):
            step = f", step {param.step}" if param.step is not None else ""
            fail(where, f"{value!r} is outside the space ({param.kind} {list(param.values)}{step})")
        if key not in chosen:
            fail(where, f"is not active for this point (its when: {dict(by_name[key].when)})")
