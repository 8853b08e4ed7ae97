"""search.trial.ray_logs: Ray's "Failed to fetch metrics" warning is dropped when every trial
it lists never reported, and logged whole otherwise (through Ray's own analysis logger)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from search.trial.ray_logs import ANALYSIS_LOGGER, UnreportedTrialsFilter, quiet_unreported_trials

NOT_FOUND = (
    "- train_ntm_{0}: FileNotFoundError('Could not fetch metrics for train_ntm_{0}: both "
    "result.json and progress.csv were not found at /tmp/ray/cut/{0}')"
)
OTHER = "- train_ntm_c3: JSONDecodeError('Expecting value: line 1 column 1 (char 0)')"


@pytest.fixture
def seen() -> Iterator[list[str]]:
    """The messages that Ray's analysis logger lets through, with the filter installed."""
    logger = logging.getLogger(ANALYSIS_LOGGER)
    before = list(logger.filters)
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    quiet_unreported_trials()
    quiet_unreported_trials()  # twice: still one filter
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.filters[:] = before


def test_the_warning_for_trials_that_never_reported_is_dropped(seen: list[str]) -> None:
    logger = logging.getLogger(ANALYSIS_LOGGER)
    assert sum(isinstance(f, UnreportedTrialsFilter) for f in logger.filters) == 1
    for n in (1, 2):
        lines = [NOT_FOUND.format(f"a{i}") for i in range(n)]
        logger.warning(f"Failed to fetch metrics for {n} trial(s):\n" + "\n".join(lines))
    assert seen == []


def test_any_other_failure_or_warning_is_logged_whole(seen: list[str]) -> None:
    logger = logging.getLogger(ANALYSIS_LOGGER)
    mixed = f"Failed to fetch metrics for 2 trial(s):\n{NOT_FOUND.format('a1')}\n{OTHER}"
    logger.warning(mixed)
    logger.warning(f"Failed to fetch metrics for 1 trial(s):\n{OTHER}")
    logger.warning("Failed to fetch metrics for 0 trial(s):")
    logger.warning("No trial data passed in during `ExperimentAnalysis` initialization")
    assert seen == [
        mixed,
        f"Failed to fetch metrics for 1 trial(s):\n{OTHER}",
        "Failed to fetch metrics for 0 trial(s):",
        "No trial data passed in during `ExperimentAnalysis` initialization",
    ]
