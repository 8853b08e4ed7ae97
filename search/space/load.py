"""Loading a space file: read it (YAML through ``SpaceLoader``, a ``SafeLoader`` that reads
floats as YAML 1.2 does: ``1e-4``, ``1.0e4`` and ``5e3`` are numbers, not strings), parse it
and validate it; the shipped spaces are ``search/spaces/TASK.yaml`` (format:
``search.space.format``), and a shipped space's start point as a trial config (``start_point``).

Example:
    >>> from search.space.format import RandomSuggester
    >>> space = load_space(default_space_path("copy"))
    >>> sorted(space.sample(RandomSuggester(0)))[:3]
    ['activation', 'batch_size', 'clip']
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from search.space.format import RandomSuggester, SearchSpace, SpaceError
from search.space.parse import parse_schedule, parse_space
from search.space.validate import validate_space
from search.trial.keys import TrialSettings

SPACES_DIR = Path(__file__).resolve().parents[1] / "spaces"

__all__ = [
    "SPACES_DIR",
    "SpaceLoader",
    "default_space_path",
    "load_space",
    "search_space_path",
    "space_schedule",
    "start_point",
]

# YAML 1.2's float (core schema): unlike YAML 1.1 the dot and the exponent's sign are optional.
_YAML12_FLOAT = re.compile(
    r"""^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$
    |^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$""",
    re.X,
)


class SpaceLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2's float resolver, so ``5e3`` is 5000.0.

    >>> yaml.load("[1e-4, 1.0e4, 5e3, 7, '1e-4']", Loader=SpaceLoader)
    [0.0001, 10000.0, 5000.0, 7, '1e-4']
    """


SpaceLoader.add_implicit_resolver(  # after the int resolver: ``7`` stays an int
    "tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789.")
)


def default_space_path(task: str) -> Path:
    return SPACES_DIR / f"{task}.yaml"


def search_space_path(space: str | None, task: str | None) -> str:
    """The space file of a search: ``space`` (--space), else ``task``'s shipped space, else
    copy's."""
    return space or str(default_space_path(task or "copy"))


def _read(path: str | Path) -> object:
    """The YAML of the space file ``path``; SpaceError (one line) if unreadable or malformed."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpaceError(f"space file {source} cannot be read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=SpaceLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise SpaceError(f"space {source}: malformed YAML: {problem}{where}") from None


def load_space(path: str | Path, *, settings: TrialSettings | None = None) -> SearchSpace:
    """Read, check and return the space in ``path``; raise SpaceError (one line) if unusable."""
    space = parse_space(_read(path), source=str(path))
    validate_space(space, settings or TrialSettings())
    return space


def space_schedule(path: str | Path) -> dict[str, Any]:
    """The ``schedule`` of the space file ``path`` alone (``{}`` without one), read before the
    search's options are final: they take it as their defaults (``search.launch.cli``)."""
    return parse_schedule(_read(path), source=str(path))


def start_point(task: str, index: int = 0) -> dict[str, Any]:
    """Start point ``index`` (from 0) of ``task``'s shipped space as a flat trial config: the
    point's full config (the space's fixed values too), ``task`` and ``task_params`` (the keys
    ``search.trial.config.run_config_from_trial`` takes). ValueError for an index out of range.

    >>> trial = start_point("copy")
    >>> trial["task"], trial["controller"]
    ('copy', 'lstm')
    """
    space = load_space(default_space_path(task))
    if not 0 <= index < len(space.start_points):
        raise ValueError(
            f"start point: search/spaces/{task}.yaml has {len(space.start_points)} start "
            f"points (0-{len(space.start_points) - 1}), but got {index}"
        )
    point = space.sample(RandomSuggester(0, space.start_points[index]))
    return {**point, "task": space.task, "task_params": dict(space.task_params)}
