"""The "combined" curriculum of Zaremba & Sutskever 2014: a plateau rule plus uniform draws."""

from __future__ import annotations

import random
from typing import ClassVar

from curricula._checks import check_float
from curricula.plateau import PlateauScheduler


class MixedScheduler(PlateauScheduler):
    """Plateau curriculum whose batches are sometimes drawn from all levels.

    Zaremba & Sutskever ("Learning to Execute", 2014) found that a curriculum raising the
    difficulty alone lets the network forget easy cases and overfit the current one, and
    that mixing in examples of every difficulty fixes this ("combined" strategy).

    1. ``level`` (the current level) moves exactly as in ``PlateauScheduler``, with the same
       parameters and the same rules, NaN rule included: a report with a non-finite loss
       or bit errors is counted in ``state["nonfinite_reports"]`` and otherwise ignored.
    2. ``next_level(rng)`` draws ``rng.random()`` once; below ``uniform_fraction`` it
       returns ``rng.randint(start_level, target_level)`` (uniform over all levels, a
       second draw), otherwise ``level``. So the trainer's ``rng`` advances by one or two
       draws per batch, and equal ``rng`` states give equal levels.
    3. The metrics passed to ``observe`` should come from batches at ``level`` only: an
       average over mixed batches is dominated by the harder levels, which delays mastery
       and plateaus.

    Args:
        uniform_fraction: probability in [0, 1] that a batch is drawn uniformly over
            ``start_level..target_level`` (default 0.2); 0 is the plain plateau
            curriculum, 1 is the uniform "mix" strategy.
        patience, min_delta, warmup, smoothing, mastery_threshold, increase, step, factor,
        cooldown: as in ``PlateauScheduler``.

    Example:
        >>> import random
        >>> sched = MixedScheduler(target_level=20, uniform_fraction=0.5)
        >>> rng = random.Random(0)
        >>> levels = [sched.next_level(rng) for _ in range(10_000)]
        >>> round(levels.count(1) / len(levels), 1)  # 0.5 + 0.5 / 20 at level 1
        0.5
        >>> len(set(levels))
        20
    """

    name: ClassVar[str] = "mixed"
    param_names: ClassVar[tuple[str, ...]] = (
        *PlateauScheduler.param_names,
        "uniform_fraction",
    )

    def __init__(
        self,
        *,
        start_level: int = 1,
        target_level: int = 20,
        uniform_fraction: float = 0.2,
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
        super().__init__(
            start_level=start_level,
            target_level=target_level,
            patience=patience,
            min_delta=min_delta,
            warmup=warmup,
            smoothing=smoothing,
            mastery_threshold=mastery_threshold,
            increase=increase,
            step=step,
            factor=factor,
            cooldown=cooldown,
        )
        self._uniform_fraction = check_float(
            "uniform_fraction", uniform_fraction, low=0.0, high=1.0
        )

    @property
    def uniform_fraction(self) -> float:
        return self._uniform_fraction

    def next_level(self, rng: random.Random) -> int:
        if rng.random() < self._uniform_fraction:
            return rng.randint(self._start_level, self._target_level)
        return self._level
