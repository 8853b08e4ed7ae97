"""Raise the level when the loss stops improving (a plateau) or the level is mastered."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from curricula._checks import (
    check_choice,
    check_float,
    check_int,
    check_step,
    read_metric,
)
from curricula.base import Decision, Scheduler, state_value

_FACTOR_EPS = 1e-9  # absorbs float error before ceil(): 10 * 1.1 == 11.000000000000002
INCREASE_MODES = ("step", "factor")


class PlateauScheduler(Scheduler):
    """Plateau rule in the style of Optuna's ``PatientPruner``; direction: lower loss is better.

    Each ``observe`` call is one *report*. ``metrics["loss"]`` (bits per sequence) is
    required, and ``metrics["bit_errors"]`` (per sequence) too unless
    ``mastery_threshold`` is None. A report is handled by the first rule that applies:

    1. **Non-finite metrics.** If the loss, or the bit errors when mastery is on, is NaN or
       +-inf, the report is counted in ``state["nonfinite_reports"]`` and otherwise
       ignored: it never raises the level, and it neither advances warmup, cooldown or
       patience nor changes the smoothed or best loss. (The trainer stops on NaN itself.)
    2. **At target.** At ``target_level`` the level never changes again.
    3. **Warmup and cooldown.** The first ``warmup`` finite reports of the run, and the
       first ``cooldown`` finite reports after each raise, are skipped: no raise, and
       nothing is updated (the loss right after a change of level is a transient).
    4. **Mastery.** If ``bit_errors < mastery_threshold``, the level is raised at once,
       whatever the patience counter says.
    5. **Smoothing.** ``s = loss`` at the first counted report of a level, then
       ``s = smoothing * s + (1 - smoothing) * loss`` (``smoothing=0`` uses the raw loss).
    6. **Improvement.** The first counted report of a level sets ``best = s``. Later, if
       ``s < best - min_delta`` then ``best = s`` and the patience counter resets to 0;
       otherwise the counter grows by 1 (so changes within ``min_delta`` are a plateau,
       and ``best`` keeps its value until beaten by more than ``min_delta``).
    7. **Plateau.** When the counter reaches ``patience``, the level is raised: with a
       flat loss and no warmup, the raise comes at the ``patience + 1``-th report of a
       level (one to set ``best``, then ``patience`` without improvement).
    8. **Raise.** ``increase="step"``: ``level + step``; ``increase="factor"``:
       ``max(level + 1, ceil(level * factor))``; both capped at ``target_level``. A raise
       resets the smoothed loss, ``best`` and the counter (losses at different levels are
       not comparable) and starts ``cooldown``.

    Args:
        patience: reports without improvement that make a plateau, >= 1.
        min_delta: improvement of the smoothed loss (bits per sequence) needed to reset
            the counter, >= 0.
        warmup: reports skipped at the start of the run, >= 0.
        smoothing: EMA factor in [0, 1).
        mastery_threshold: bit errors per sequence below which the level is raised at
            once, >= 0; None turns the rule off.
        increase: ``"step"`` or ``"factor"``.
        step: levels added by a ``"step"`` raise, >= 1.
        factor: multiplier of a ``"factor"`` raise, > 1.
        cooldown: reports skipped after each raise, >= 0.

    Example:
        >>> sched = PlateauScheduler(target_level=3, patience=2, mastery_threshold=None)
        >>> [sched.observe(step, {"loss": 1.0}).level for step in range(7)]
        [1, 1, 2, 2, 2, 3, 3]
        >>> sched.history
        [(2, 2), (5, 3)]
    """

    name: ClassVar[str] = "plateau"
    param_names: ClassVar[tuple[str, ...]] = (
        "patience",
        "min_delta",
        "warmup",
        "smoothing",
        "mastery_threshold",
        "increase",
        "step",
        "factor",
        "cooldown",
    )

    def __init__(
        self,
        *,
        start_level: int = 1,
        target_level: int = 20,
        patience: int = 5,
        min_delta: float = 0.0,
        warmup: int = 0,
        smoothing: float = 0.0,
        mastery_threshold: float | None = 0.5,
        increase: str = "step",
        step: int = 1,
        factor: float = 1.5,
        cooldown: int = 0,
    ) -> None:
        super().__init__(start_level=start_level, target_level=target_level)
        self._patience = check_int("patience", patience, minimum=1)
        self._min_delta = check_float("min_delta", min_delta, low=0.0)
        self._warmup = check_int("warmup", warmup, minimum=0)
        self._smoothing = check_float("smoothing", smoothing, low=0.0, high=1.0, high_open=True)
        self._mastery_threshold = (
            None
            if mastery_threshold is None
            else check_float("mastery_threshold", mastery_threshold, low=0.0)
        )
        self._increase = check_choice("increase", increase, INCREASE_MODES)
        self._step = check_int("step", step, minimum=1)
        self._factor = check_float("factor", factor, low=1.0, low_open=True)
        self._cooldown = check_int("cooldown", cooldown, minimum=0)
        self._skip_left = self._warmup  # reports still skipped by warmup or cooldown
        self._smoothed: float | None = None
        self._best: float | None = None
        self._bad_reports = 0

    def observe(self, step: int, metrics: Mapping[str, Any]) -> Decision:
        step = check_step(step)
        loss = read_metric(metrics, "loss")
        errors = 0.0 if self._mastery_threshold is None else read_metric(metrics, "bit_errors")
        if not (math.isfinite(loss) and math.isfinite(errors)):  # rule 1
            self._nonfinite_reports += 1
            shown = (
                f"loss={loss}"
                if self._mastery_threshold is None
                else f"{loss=}, bit_errors={errors}"
            )
            return self._hold(f"non-finite metric ignored ({shown})")
        if self.at_target:  # rule 2
            return self._hold(f"at target_level={self._target_level}")
        if self._skip_left > 0:  # rule 3
            self._skip_left -= 1
            phase = "cooldown" if self._history else "warmup"
            return self._hold(f"{phase}: {self._skip_left} report(s) left")
        if self._mastery_threshold is not None and errors < self._mastery_threshold:  # rule 4
            return self._raise(
                step, f"mastery: bit_errors={errors:.4g} < {self._mastery_threshold:g}"
            )
        smoothed = (  # rule 5
            loss
            if self._smoothed is None
            else self._smoothing * self._smoothed + (1.0 - self._smoothing) * loss
        )
        self._smoothed = smoothed
        if self._best is None or smoothed < self._best - self._min_delta:  # rule 6
            self._best = smoothed
            self._bad_reports = 0
            return self._hold(f"improving: smoothed loss {smoothed:.4g}")
        self._bad_reports += 1
        if self._bad_reports >= self._patience:  # rule 7
            return self._raise(
                step,
                f"plateau: no improvement > {self._min_delta:g} on {self._best:.4g} "
                f"in {self._bad_reports} reports",
            )
        return self._hold(f"no improvement: {self._bad_reports}/{self._patience}")

    def _raise(self, step: int, reason: str) -> Decision:  # rule 8
        old = self._level
        if self._increase == "step":
            new = old + self._step
        else:
            new = max(old + 1, math.ceil(old * self._factor - _FACTOR_EPS))
        new = min(new, self._target_level)
        self._smoothed = None
        self._best = None
        self._bad_reports = 0
        self._skip_left = self._cooldown
        return self._move_to(step, new, f"{reason}; level {old} -> {new}")

    def _extra_state(self) -> dict[str, Any]:
        return {
            "skip_left": self._skip_left,
            "smoothed": self._smoothed,
            "best": self._best,
            "bad_reports": self._bad_reports,
        }

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self._skip_left = check_int("skip_left", state_value(state, "skip_left"), minimum=0)
        self._smoothed = _optional_float(state_value(state, "smoothed"))
        self._best = _optional_float(state_value(state, "best"))
        self._bad_reports = check_int("bad_reports", state_value(state, "bad_reports"), minimum=0)


def _optional_float(value: object) -> float | None:
    if value is None:
        return None
    return check_float("state value", value, low=-math.inf)
