"""Argument checks shared by the schedulers: one-line ``ValueError``s naming field and value.

Messages follow ``f"{name} must be >= 1, but got {name}={value!r}."``. Booleans are
rejected where a number is expected (``True`` is an ``int`` in Python, never a patience).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any


def check_int(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an ``int`` that is ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int >= {minimum}, but got {name}={value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, but got {name}={value!r}.")
    return value


def check_float(
    name: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in the interval given by ``low``/``high``.

    The interval is closed unless ``low_open``/``high_open`` say otherwise; the message
    spells it in interval notation, e.g. ``"smoothing must be in [0, 1), ..."``.
    """
    allowed = _interval(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number {allowed}, but got {name}={value!r}.")
    number = float(value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if not math.isfinite(number) or too_low or too_high:
        raise ValueError(f"{name} must be {allowed}, but got {name}={value!r}.")
    return number


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if math.isinf(high):
        return f"> {low:g}" if low_open else f">= {low:g}"
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    return f"in {left}{low:g}, {high:g}{right}"


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` as one of the strings in ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, but got {name}={value!r}.")
    return str(value)


def check_levels(start_level: object, target_level: object) -> tuple[int, int]:
    """``(start_level, target_level)`` with ``1 <= start_level <= target_level``."""
    start = check_int("start_level", start_level, minimum=1)
    if isinstance(target_level, bool) or not isinstance(target_level, int):
        raise ValueError(
            f"target_level must be an int >= start_level ({start}), "
            f"but got target_level={target_level!r}."
        )
    if target_level < start:
        raise ValueError(
            f"target_level must be >= start_level ({start}), but got target_level={target_level}."
        )
    return start, target_level


def check_step(step: object) -> int:
    """The trainer's step counter as an ``int >= 0`` (NumPy integers are accepted)."""
    try:
        value = operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"step must be an int >= 0, but got step={step!r}.") from None
    if isinstance(step, bool) or value < 0:
        raise ValueError(f"step must be an int >= 0, but got step={step!r}.")
    return value


def read_metric(metrics: Mapping[str, Any], key: str) -> float:
    """``metrics[key]`` as a ``float`` (NaN and inf pass through; the caller decides)."""
    if key not in metrics:
        raise ValueError(f"metrics must contain {key!r}, but got keys {sorted(metrics)}.")
    value = metrics[key]
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metrics[{key!r}] must be a number, but got {key}={value!r}.") from None
