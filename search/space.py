"""Search spaces: a YAML file per task, loaded, validated, and sampled define-by-run.

Format (see ``search/spaces/copy.yaml``)::

    task: copy
    task_params: {min_length: 1, max_length: 20}
    params:
      controller: lstm                               # a plain value is fixed
      lr: {loguniform: [1.0e-4, 1.0e-2]}             # write floats with a dot: 1.0e-4
      controller_size: {int: [64, 128], step: 4}
      clip_value: {uniform: [1.0, 20.0]}
      curriculum: {choice: [none, plateau]}
      patience: {int: [2, 8], when: {curriculum: plateau}}       # conditional
      stages: {value: [[0, 5], [20000, 20]], when: {curriculum: staged}}
    start_points:                                    # optional: tried first (warm start)
      - {lr: 3.0e-3, curriculum: none}

A parameter is a plain value or a mapping with exactly one of ``value``, ``choice``,
``int``, ``uniform``, ``loguniform`` (``[low, high]``, inclusive), an optional ``step``
(``int``, ``uniform``) and an optional ``when: {parent: value or [values]}``: the parameter
exists only when every parent, defined earlier in the file, has one of those values.
Curriculum parameters are checked against ``curricula.scheduler_param_names`` for every
curriculum under which they are active. Every error is one line naming the file and field.

Example:
    >>> space = load_space("search/spaces/copy.yaml")
    >>> sorted(space.sample(RandomSuggester(0)))[:3]
    ['batch_size', 'clip', 'clip_value']
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from search.space_parse import parse_space
from search.space_types import (
    KINDS,
    SPACES_DIR,
    TOP_KEYS,
    Param,
    RandomSuggester,
    SearchSpace,
    SpaceError,
    Suggester,
)

__all__ = [
    "KINDS",
    "SPACES_DIR",
    "TOP_KEYS",
    "Param",
    "RandomSuggester",
    "SearchSpace",
    "SpaceError",
    "Suggester",
    "default_space_path",
    "load_space",
    "parse_space",
]


def default_space_path(task: str) -> Path:
    return SPACES_DIR / f"{task}.yaml"


def load_space(path: str | Path, *, fixed_keys: Mapping[str, Any] | None = None) -> SearchSpace:
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
    space.validate(fixed_keys or {"report_sequences": 64, "max_reports": 1})
    return space
