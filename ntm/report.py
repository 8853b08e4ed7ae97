"""``Report``: what a training run says every ``report_every`` steps (``ntm.trainer``), and its
dict form, the entries of a run's ``history`` (checkpoints, JSON lines, the search's results).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Report"]


@dataclass(frozen=True)
class Report:
    """Metrics since the previous report. Costs are bits per sequence.

    At evaluation reports, ``objective`` is the task's declared objective at the target level
    (``Task.objective``: bit errors per sequence, or the Bayes gap for N-grams), the one value
    a search ranks by; ``eval_scores`` holds the task's other scores (``marker_accuracy``,
    ``bayes_optimal_cost``, ...), flattened into ``to_dict`` as ``eval_<name>``.
    """

    step: int
    sequences: int
    level: int
    loss: float
    bit_errors: float
    grad_norm: float
    seq_per_sec: float
    elapsed: float
    eval_loss: float | None = None
    eval_bit_errors: float | None = None
    objective: float | None = None  # the task's objective at the target level (lower: better)
    eval_scores: dict[str, float] | None = None  # the task's other scores (Task.extra_scores)
    stop_reason: str | None = None  # why this report is the run's last (ntm.stopping), else None
    engine: str | None = None  # the engine that ran the steps (``ntm.engines``)
    lr: float | None = None  # the optimizer's learning rate at this report

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        out.update({f"eval_{k}": v for k, v in out.pop("eval_scores", {}).items()})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """The inverse of ``to_dict``: a ``history`` entry back to its Report."""
        names = {f.name for f in dataclasses.fields(cls)}
        scores = {k[5:]: v for k, v in data.items() if k.startswith("eval_") and k not in names}
        return cls(**{k: v for k, v in data.items() if k in names}, eval_scores=scores or None)
