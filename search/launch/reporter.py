"""The search's progress table in the terminal: Ray's ``CLIReporter`` with two rules of ours.

1. Rows: running, paused and pending trials first (by id), then the finished ones best first
   by the search's one ranking (``search.trial.ranking.rank_key``, as the final table), up
   to ``max_progress_rows`` rows; a finished trial that never reported ranks last. (Ray's
   own ``sort_by_metric`` compares the metric of every finished trial and fails with a
   ``TypeError`` on one that has none, e.g. cut by the time budget before its first report.)
2. The display never ends a search: a failure inside it is said on one line on stderr (once
   per kind of error) and the search goes on without that table. The final table, the CSV
   and MLflow do not depend on it (``search.launch.search``).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ray.tune import CLIReporter
from ray.tune.experiment import Trial
from ray.tune.progress_reporter import (
    _time_passed_str,
    _trial_errors_str,
    _trial_progress_table,
)

from ntm.errors import first_line
from search.trial.ranking import rank_key
from search.trial.status import trial_status

__all__ = ["SearchReporter", "display_order"]

_STATE_ORDER = (Trial.RUNNING, Trial.PAUSED, Trial.PENDING, Trial.TERMINATED, Trial.ERROR)


def display_order(trial: Trial) -> tuple[Any, ...]:
    """Sort key of a trial's row: its state (``_STATE_ORDER``), then for finished trials
    ``rank_key`` (rule 1), for the others the trial id."""
    state = _STATE_ORDER.index(trial.status) if trial.status in _STATE_ORDER else 5
    last: Mapping[str, Any] = trial.last_result or {}
    if trial.status in (Trial.TERMINATED, Trial.ERROR):
        status = trial_status(last or None, errored=trial.status == Trial.ERROR)
        return (state, rank_key(str(trial.trial_id), status, last))
    return (state, (str(trial.trial_id),))


class SearchReporter(CLIReporter):
    """``CLIReporter`` that orders rows by the search's ranking and never raises."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["sort_by_metric"] = False  # rule 1 sorts, robust to trials without a metric
        super().__init__(*args, **kwargs)
        self._failures: set[str] = set()

    def _failed(self, exc: BaseException) -> None:
        kind = type(exc).__name__
        if kind not in self._failures:  # rule 2: one line per kind of error
            self._failures.add(kind)
            print(
                f"progress display failed ({kind}: {first_line(exc)}); the search goes on",
                file=sys.stderr,
                flush=True,
            )

    def should_report(self, trials: list[Trial], done: bool = False) -> bool:
        try:
            return bool(super().should_report(trials, done))
        except Exception as exc:  # rule 2
            self._failed(exc)
            return False

    def report(self, trials: list[Trial], done: bool, *sys_info: Any) -> None:
        try:
            super().report(trials, done, *sys_info)
        except Exception as exc:  # rule 2
            self._failed(exc)

    def _progress_str(
        self,
        trials: list[Trial],
        done: bool,
        *sys_info: Any,
        fmt: str = "psql",
        delim: str = "\n",
    ) -> str:
        rows = self._max_progress_rows or len(trials)
        shown = sorted(trials, key=display_order)[:rows]  # rule 1
        counts = Counter(t.status for t in trials)
        total = f"/{self._total_samples}" if self._total_samples else ""
        states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        messages = [
            "== Status ==",
            _time_passed_str(self._start_time, time.time()),
            *sys_info,
            f"Number of trials: {len(trials)}{total} ({states})",
        ]
        if shown:
            messages += _trial_progress_table(
                trials=shown,
                metric_columns=self._metric_columns,
                parameter_columns=self._parameter_columns,
                fmt=fmt,
                max_column_length=self._max_column_length,
            )
        if len(shown) < len(trials):
            messages.append(
                f"... {len(trials) - len(shown)} more trials not shown (the rows: running, "
                "paused and pending trials, then the best finished ones)"
            )
        messages.append(_trial_errors_str(trials, fmt=fmt, max_rows=self._max_error_rows))
        return delim.join(messages) + delim
