"""Loading a space file: read it (YAML through ``SpaceLoader``, a ``SafeLoader`` that reads
floats as YAML 1.2 does: ``1e-4``, ``1.0e4`` and ``5e3`` are numbers, not strings), parse it
and validate it; the shipped spaces are ``search/spaces/TASK.yaml`` (format:
``search.space.format``).

Example:
    >>> from search.space.format import RandomSuggester
    >>> space = load_space(default_space_path("copy"))
    >>> sorted(space.sample(RandomSuggester(0)))[:3]
    ['batch_size', 'clip', 'clip_value']
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from search.space.format import SearchSpace, SpaceError
from search.space.parse import parse_space
from search.space.validate import validate_space
from search.trial.keys import TrialSettings

SPACES_DIR = Path(__file__).resolve().parents[1] / "spaces"

__all__ = ["SPACES_DIR", "SpaceLoader", "default_space_path", "load_space"]

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


def load_space(path: str | Path, *, settings: TrialSettings | None = None) -> SearchSpace:
    """Read, check and return the space in ``path``; raise SpaceError (one line) if unusable."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpaceError(f"space file {source} cannot be read: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=SpaceLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise SpaceError(f"space {source}: malformed YAML: {problem}{where}") from None
    space = parse_space(raw, source=source)
    validate_space(space, settings or TrialSettings())
    return space
