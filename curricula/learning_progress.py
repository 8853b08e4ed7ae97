"""Automated curriculum by learning progress: Exp3.S over levels (Graves et al. 2017)."""

from __future__ import annotations

import collections
import math
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from curricula._checks import check_float, check_int, check_step
from curricula.base import Decision, Scheduler, state_value

_LOW_QUANTILE = 0.2  # rewards at or below the 20th percentile map to -1 (Graves et al. 2017)
_HIGH_QUANTILE = 0.8  # rewards at or above the 80th percentile map to +1
_TINY = 1e-300  # keeps log() finite when alpha=0 lets an arm's weight underflow to 0


class LearningProgressScheduler(Scheduler):
    """Exp3.S bandit whose arms are the levels ``start_level..target_level``.

    After Graves, Bellemare, Menick, Munos & Kavukcuoglu 2017, "Automated Curriculum
    Learning for Neural Networks", section 3 and Algorithm 1. With ``N`` arms and weights
    ``w`` (all 0 at the start):

    1. **Policy.** ``pi(i) = (1 - epsilon) * exp(w_i) / sum_j exp(w_j) + epsilon / N``.
       ``next_level(rng)`` draws one ``rng.random()`` and returns the level it selects
       from ``pi`` (equal ``rng`` states give equal levels).
    2. **Progress.** ``record_batch(level, loss)`` keeps the last loss seen on each arm.
       The progress of a batch is ``previous loss on that arm - loss`` (bits per
       sequence; positive when the loss dropped). The first batch on an arm only sets its
       previous loss.
    3. **Reward.** Progress values go into a FIFO window of the last ``reservoir_size``
       values (the paper's reservoir of recent rewards, kept deterministic). With ``lo``
       and ``hi`` the window's 20th and 80th percentiles (linear interpolation), the
       reward is -1 below ``lo``, +1 above ``hi``, ``2 * (v - lo) / (hi - lo) - 1`` in
       between, and 0 when ``lo == hi == v``.
    4. **Update.** For the played arm ``k`` and every arm ``i``:
       ``r_i = (reward * [i == k] + beta) / pi(i)`` (importance weighted, ``pi`` as in
       rule 1), then ``w_i <- log((1 - alpha) * exp(w_i + eta * r_i)
       + alpha / (N - 1) * sum_{j != i} exp(w_j + eta * r_j))``; the weights are shifted
       so that their maximum is 0 (the policy does not change). One arm: no update.
    5. **Level.** At each ``observe`` the level becomes the mode of ``pi`` (the lowest
       level among ties, so it starts at ``start_level``); every change, up or down, is
       appended to ``history``, and ``raised`` is true when it went up. ``at_target`` is
       true while the mode is ``target_level``. ``observe`` reads no metric.
    6. **NaN rule.** A non-finite loss given to ``record_batch`` is counted in
       ``state["nonfinite_batches"]`` and otherwise ignored: no reward, no update, the
       arm's previous loss unchanged. (The trainer stops on NaN itself.)

    Args:
        eta: step size of the weight update, > 0 (default 1e-3).
        beta: optimism bonus added to every arm's importance-weighted reward, >= 0
            (default 0).
        epsilon: share of uniform exploration in the policy, in (0, 1] (default 0.05);
            it keeps every ``pi(i) >= epsilon / N`` so the importance weights stay bounded.
        alpha: weight sharing between arms that lets the bandit switch to an arm that
            became good (the "S" of Exp3.S), in [0, 1] (default 1e-3).
        reservoir_size: number of recent progress values kept for the quantiles, >= 1
            (default 1000).

    Progress is measured in bits per sequence, which grows with the level; the quantile
    rescaling of rule 3 is shared by all arms and puts them on one scale.
    """

    name: ClassVar[str] = "learning_progress"
    param_names: ClassVar[tuple[str, ...]] = (
        "eta",
        "beta",
        "epsilon",
        "alpha",
        "reservoir_size",
    )

    def __init__(
        self,
        *,
        start_level: int = 1,
        target_level: int = 20,
        eta: float = 1e-3,
        beta: float = 0.0,
        epsilon: float = 0.05,
        alpha: float = 1e-3,
        reservoir_size: int = 1000,
    ) -> None:
        super().__init__(start_level=start_level, target_level=target_level)
        self._eta = check_float("eta", eta, low=0.0, low_open=True)
        self._beta = check_float("beta", beta, low=0.0)
        self._epsilon = check_float("epsilon", epsilon, low=0.0, high=1.0, low_open=True)
        self._alpha = check_float("alpha", alpha, low=0.0, high=1.0)
        self._reservoir_size = check_int("reservoir_size", reservoir_size, minimum=1)
        n_arms = self._target_level - self._start_level + 1
        self._weights = [0.0] * n_arms
        self._last_loss: list[float | None] = [None] * n_arms
        self._progress: collections.deque[float] = collections.deque(maxlen=self._reservoir_size)
        self._nonfinite_batches = 0

    def policy(self) -> list[float]:
        """``pi`` of rule 1: the probability of each level, ``start_level`` first."""
        top = max(self._weights)
        exps = [math.exp(w - top) for w in self._weights]
        total = sum(exps)
        uniform = self._epsilon / len(exps)
        return [(1.0 - self._epsilon) * e / total + uniform for e in exps]

    def next_level(self, rng: random.Random) -> int:
        u = rng.random()
        cumulative = 0.0
        for arm, p in enumerate(self.policy()):
            cumulative += p
            if u < cumulative:
                return self._start_level + arm
        return self._target_level  # u landed in the rounding gap at the top

    def record_batch(self, level: int, loss: float) -> None:
        if not self._start_level <= level <= self._target_level:
            raise ValueError(
                f"level must be in [{self._start_level}, {self._target_level}], "
                f"but got level={level!r}."
            )
        loss = float(loss)
        if not math.isfinite(loss):  # rule 6
            self._nonfinite_batches += 1
            return
        arm = level - self._start_level
        previous, self._last_loss[arm] = self._last_loss[arm], loss
        if previous is None:  # rule 2: the first batch on an arm is its baseline
            return
        progress = previous - loss
        self._progress.append(progress)
        self._update(arm, self._rescale(progress))

    def observe(self, step: int, metrics: Mapping[str, Any]) -> Decision:
        step = check_step(step)
        pi = self.policy()
        mode = self._start_level + pi.index(max(pi))  # rule 5: index() takes the lowest
        reason = f"policy mode at level {mode} (p={max(pi):.3f})"
        if mode != self._level:
            return self._move_to(step, mode, f"{reason}, was {self._level}")
        return self._hold(reason)

    def _rescale(self, progress: float) -> float:
        """Rule 3: map ``progress`` to [-1, 1] by the window's quantiles."""
        values = sorted(self._progress)
        lo = _quantile(values, _LOW_QUANTILE)
        hi = _quantile(values, _HIGH_QUANTILE)
        if progress < lo:
            return -1.0
        if progress > hi:
            return 1.0
        if hi == lo:
            return 0.0
        return 2.0 * (progress - lo) / (hi - lo) - 1.0

    def _update(self, arm: int, reward: float) -> None:
        """Rule 4: the Exp3.S weight update, in log space."""
        n_arms = len(self._weights)
        if n_arms == 1:
            return
        pi = self.policy()
        raised = [
            w + self._eta * ((reward if i == arm else 0.0) + self._beta) / pi[i]
            for i, w in enumerate(self._weights)
        ]
        top = max(raised)
        exps = [math.exp(x - top) for x in raised]
        total = sum(exps)
        share = self._alpha / (n_arms - 1)
        mixed = [
            top + math.log(max((1.0 - self._alpha) * e + share * (total - e), _TINY)) for e in exps
        ]
        new_top = max(mixed)
        self._weights = [w - new_top for w in mixed]

    def _extra_state(self) -> dict[str, Any]:
        return {
            "weights": list(self._weights),
            "last_loss": list(self._last_loss),
            "progress": list(self._progress),
            "nonfinite_batches": self._nonfinite_batches,
        }

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        n_arms = len(self._weights)
        weights = [float(w) for w in state_value(state, "weights")]
        last_loss = [None if x is None else float(x) for x in state_value(state, "last_loss")]
        progress = [float(x) for x in state_value(state, "progress")]
        if len(weights) != n_arms or len(last_loss) != n_arms:
            raise ValueError(
                f"state weights and last_loss must have {n_arms} entries (one per level), "
                f"but got {len(weights)} and {len(last_loss)}."
            )
        if len(progress) > self._reservoir_size:
            raise ValueError(
                f"state progress must hold <= reservoir_size={self._reservoir_size} values, "
                f"but got {len(progress)}."
            )
        self._weights = weights
        self._last_loss = last_loss
        self._progress = collections.deque(progress, maxlen=self._reservoir_size)
        self._nonfinite_batches = check_int(
            "nonfinite_batches", state_value(state, "nonfinite_batches"), minimum=0
        )


def _quantile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile of non-empty ``sorted_values``, linearly interpolated."""
    position = q * (len(sorted_values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    fraction = position - below
    return sorted_values[below] + fraction * (sorted_values[above] - sorted_values[below])
