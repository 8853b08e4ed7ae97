"""When one evaluation of a task counts as solved: each task's bar, from the paper and its
issue, written once (the trainer's ``lr_decay_on_solve``, ``benchmarks/tasks.py``,
``benchmarks/curriculum.py``, ``benchmarks/search.py`` and README's table of what learns
read them from here).

``SOLVED_BIT_ERRORS``: under 0.1 bit errors per sequence, the bar of the bit-error tasks
(copy, associative recall) and the trainer's fixed threshold for ``lr_decay_on_solve``. A
task's ``Bar`` is passed by the scores of one evaluation (``task_scores``) whose
``objective`` is under ``objective_below`` and whose other named scores are at least their
minimum: repeat copy also wants the end marker right on 99 % of sequences, N-grams is within
2 bits of the Bayes-optimal cost, priority sort under 1 bit error per sequence.

Example:
    >>> BARS["repeat_copy"].passed({"objective": 0.05, "marker_accuracy": 1.0})
    True
    >>> BARS["repeat_copy"].passed({"objective": 0.05, "marker_accuracy": 0.9})
    False
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SOLVED_BIT_ERRORS = 0.1  # "solved": evaluation bit errors per sequence at the target level

__all__ = ["BARS", "SOLVED_BIT_ERRORS", "Bar"]


@dataclass(frozen=True)
class Bar:
    """One task's bar: ``objective`` under ``objective_below``, each of ``at_least``'s scores
    at least its value."""

    objective_below: float
    at_least: Mapping[str, float] = field(default_factory=dict)

    def passed(self, scores: Mapping[str, float]) -> bool:
        """Whether one evaluation's scores (``task_scores``) reach the bar."""
        return scores["objective"] < self.objective_below and all(
            scores[name] >= minimum for name, minimum in self.at_least.items()
        )


BARS: dict[str, Bar] = {
    "copy": Bar(SOLVED_BIT_ERRORS),
    "repeat_copy": Bar(SOLVED_BIT_ERRORS, {"marker_accuracy": 0.99}),
    "associative_recall": Bar(SOLVED_BIT_ERRORS),
    "ngrams": Bar(2.0),  # bits per sequence above the Bayes optimum
    "priority_sort": Bar(1.0),
}
