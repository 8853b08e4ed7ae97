"""Ray's warning about trials that never reported, kept off the terminal when that is all
it says.

When a search ends (by its budget, or Ctrl-C) before a trial's first report, the trial has no
``result.json``. Ray's ``ExperimentAnalysis``, which reads the experiment at the end of the
search and again for the export, then logs "Failed to fetch metrics for N trial(s)" with a
``FileNotFoundError`` per trial. The search's table already counts such a trial (its status
is ``stopped_budget``, with 0 iterations), and the export never picks it. So
``UnreportedTrialsFilter`` drops that warning when every trial it names is one without a
metrics file; a warning naming any other failure is logged whole.
"""

from __future__ import annotations

import logging

__all__ = ["ANALYSIS_LOGGER", "UnreportedTrialsFilter", "quiet_unreported_trials"]

ANALYSIS_LOGGER = "ray.tune.analysis.experiment_analysis"
_WARNING = "Failed to fetch metrics for "
_NOT_REPORTED = "both result.json and progress.csv were not found"


class UnreportedTrialsFilter(logging.Filter):
    """Drop Ray's "Failed to fetch metrics" warning when each trial it lists never reported."""

    def filter(self, record: logging.LogRecord) -> bool:
        lines = record.getMessage().splitlines()
        if not lines or not lines[0].startswith(_WARNING):
            return True
        failures = lines[1:]
        return not failures or not all(_NOT_REPORTED in line for line in failures)


def quiet_unreported_trials() -> None:
    """Install ``UnreportedTrialsFilter`` on Ray's analysis logger (once)."""
    logger = logging.getLogger(ANALYSIS_LOGGER)
    if not any(isinstance(f, UnreportedTrialsFilter) for f in logger.filters):
        logger.addFilter(UnreportedTrialsFilter())
