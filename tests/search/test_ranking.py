"""search.trial.ranking: the one order of finished trials, on hand-written reports."""

from __future__ import annotations

import math

import pytest

from search.launch.results import results_table, trial_row
from search.trial.ranking import rank_key
from search.trial.status import (
    COMPLETED,
    ERROR,
    INTERRUPTED,
    PRUNED_NAN,
    STOPPED_ASHA,
    STOPPED_BUDGET,
)


def ranked(trials: dict[str, tuple[str, dict]]) -> list[str]:
    return sorted(trials, key=lambda t: rank_key(t, *trials[t]))


def test_rules_in_order() -> None:
    trials = {
        # rule 1: a diverged trial is never best, however well it scored before
        "nan": (PRUNED_NAN, {"max_level_reached": 9, "objective": 0.0}),
        "err": (ERROR, {}),
        # rule 1: cut by the search's end (no final checkpoint of its own end): after the
        # eligible trials, before the diverged ones
        "cut": (STOPPED_BUDGET, {"max_level_reached": 9, "objective": 0.0}),
        "stop": (INTERRUPTED, {"max_level_reached": 9, "objective": 0.1}),
        # rule 3: a higher level first, then the lower objective
        "low": (COMPLETED, {"max_level_reached": 2, "objective": 0.0}),
        "high_bad": (STOPPED_ASHA, {"max_level_reached": 3, "objective": 1.0}),
        "high_good": (COMPLETED, {"max_level_reached": 3, "objective": 0.5}),
        # rule 4: equal level and objective: the lower cost first
        "confident": (COMPLETED, {"max_level_reached": 3, "objective": 0.5, "eval_loss": 0.1}),
    }
    assert ranked(trials) == [
        "confident",
        "high_good",
        "high_bad",
        "low",
        "cut",
        "stop",
        "nan",
        "err",
    ]


def test_non_finite_and_missing_values_rank_last_and_ties_break_by_id() -> None:
    nan = {"max_level_reached": 3, "objective": math.nan}
    fine = {"max_level_reached": 3, "objective": 2.0}
    # a NaN objective counts as missing: after any finite one
    assert ranked({"a": (COMPLETED, nan), "b": (COMPLETED, fine)}) == ["b", "a"]
    # identical metrics: the trial id decides, so every consumer picks the same trial
    assert ranked({"y": (COMPLETED, fine), "x": (COMPLETED, fine)}) == ["x", "y"]


def test_metric_and_mode_replace_level_and_objective() -> None:
    trials = {"a": (COMPLETED, {"seq_per_sec": 10.0}), "b": (COMPLETED, {"seq_per_sec": 20.0})}
    assert sorted(
        trials, key=lambda t: rank_key(t, *trials[t], metric="seq_per_sec", mode="max")
    ) == ["b", "a"]
    with pytest.raises(ValueError, match="mode must be"):
        rank_key("a", COMPLETED, {}, metric="seq_per_sec", mode="best")


def test_results_table_is_in_rank_order() -> None:
    rows = [
        trial_row("t1", {}, {"status": "running", "max_level_reached": 2, "objective": 0.0}, None,
                  errored=False),
        trial_row("t2", {}, {"status": "completed", "max_level_reached": 3, "objective": 1.0},
                  None, errored=False),
        trial_row("t3", {}, {"status": "pruned_nan", "max_level_reached": 3, "objective": 0.0},
                  None, errored=False),
    ]  # fmt: skip
    table = results_table(rows)
    # the same order as rank_key: level before objective, the NaN trial last
    assert list(table["trial_id"]) == ["t2", "t1", "t3"]
    assert list(table["status"]) == [COMPLETED, STOPPED_ASHA, PRUNED_NAN]


def test_an_empty_table_keeps_its_columns() -> None:
    empty = results_table([])
    # Rule: with no trial, the table still has every column (results.csv keeps its header).
    assert empty.empty and "trial_id" in empty.columns and "status" in empty.columns
    assert list(empty.columns) == [c for c in trial_row_columns() if c != "_rank"]


def trial_row_columns() -> list[str]:
    return list(trial_row("t", {}, {"status": "completed"}, None, errored=False))
