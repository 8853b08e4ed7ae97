"""Loading a space file: read it (YAML, ``safe_load``), parse it and validate it; the
shipped spaces are ``search/spaces/TASK.yaml`` (format: ``search.space.format``).

Example:
    >>> from search.space.format import RandomSuggester
    >>> space = load_space(default_space_path("copy"))
    >>> sorted(space.sample(RandomSuggester(0)))[:3]
    ['batch_size', 'clip', 'clip_value']
"""

from __future__ import annotations

from pathlib import Path

import yaml

from search.space.format import SearchSpace, SpaceError
from search.space.parse import parse_space
from search.space.validate import validate_space
from search.trial.keys import TrialSettings

SPACES_DIR = Path(__file__).resolve().parents[1] / "spaces"

__all__ = ["SPACES_DIR", "default_space_path", "load_space"]


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
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise SpaceError(f"space {source}: malformed YAML: {problem}{where}") from None
    space = parse_space(raw, source=source)
    validate_space(space, settings or TrialSettings())
    return space
