"""One best trial: the results table's order (its first row, ``results.csv``), MLflow's
``best_trial_id`` tag, ``--confirm-top``'s choice and the export's choice agree, on
hand-built rows, runs and candidates given to the real functions (no Ray, no MLflow server).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NamedTuple, cast

import pytest

from search.exporter.candidates import Candidate, select
from search.launch.config import SearchConfig
from search.launch.confirm import _points
from search.launch.results import best_trials, results_table, trial_row
from search.tracking.finish import ranked_runs
from search.trial.status import (
    COMPLETED,
    ERROR,
    PRUNED_NAN,
    PRUNED_OBJECTIVE,
    RUNNING,
    STOPPED_ASHA,
    STOPPED_BUDGET,
    trial_status,
)


class Trial(NamedTuple):
    """What a search kept of one trial: its last report, how it ended, its checkpoint."""

    trial_id: str
    last: dict[str, Any]
    checkpoint: str | None = None
    cut: str | None = None
    errored: bool = False

    @property
    def status(self) -> str:
        return trial_status(self.last, errored=self.errored, cut=self.cut)


def report(status: str, objective: float, *, level: int = 3, loss: float = 1.0) -> dict[str, Any]:
    return {
        "status": status,
        "objective": objective,
        "max_level_reached": level,
        "eval_loss": loss,
        "training_iteration": 10,
        "sequences": 1000,
    }


# the lowest objective belongs to trials that cannot be exported (a NaN-pruned one, whose
# earlier reports scored 0.0, one cut by the budget, one that errored); the best eligible
# trial has no checkpoint: the next one, "asha", is the best
SEARCH = [
    Trial("nan", report(PRUNED_NAN, PRUNED_OBJECTIVE, level=9), "/ckpt/nan"),
    Trial("budget", report(RUNNING, 0.0, level=9, loss=0.01), "/ckpt/budget", STOPPED_BUDGET),
    Trial("error", report(RUNNING, 0.0, level=9), None, errored=True),
    Trial("nockpt", report(COMPLETED, 0.0, level=5, loss=0.1), None),
    Trial("asha", report(RUNNING, 0.2, level=5), "/ckpt/asha"),
    Trial("worse", report(COMPLETED, 0.4, level=5), "/ckpt/worse"),
    Trial("lower_level", report(COMPLETED, 0.0, level=4), "/ckpt/lower_level"),
]
BEST_FIRST = ["asha", "worse", "lower_level"]  # the exportable trials, best first


def table_order(trials: list[Trial]) -> list[str]:
    rows = [
        trial_row(t.trial_id, {}, t.last, None, errored=t.errored, checkpoint=t.checkpoint,
                  cut=t.cut)
        for t in trials
    ]  # fmt: skip
    return [str(t) for t in results_table(rows)["trial_id"]]


def mlflow_order(trials: list[Trial]) -> list[str]:
    """What ``finish_search`` ranks for the best tag: the trials' MLflow child runs."""
    runs = []
    for t in trials:
        tags = {"trial_id": t.trial_id, "status": t.status}
        if t.checkpoint is not None:  # the callback tags a trial's checkpoint when it has one
            tags["checkpoint_path"] = t.checkpoint
        metrics = {k: v for k, v in t.last.items() if isinstance(v, float | int)}
        runs.append(SimpleNamespace(info=SimpleNamespace(run_id=t.trial_id),
                                    data=SimpleNamespace(tags=tags, metrics=metrics)))  # fmt: skip
    return [run.data.tags["trial_id"] for run in ranked_runs(runs)]


def exported(trials: list[Trial]) -> str:
    candidates = [Candidate(t.trial_id, t.status, t.last, t.checkpoint) for t in trials]
    return select(candidates, metric=None, mode="min").trial_id


def confirmed(trials: list[Trial], top: int) -> list[str]:
    """The source trials ``--confirm-top`` re-runs, in the order of their seeds' ranks."""
    rows = [
        trial_row(t.trial_id, {}, t.last, None, errored=t.errored, checkpoint=t.checkpoint,
                  cut=t.cut)
        for t in trials
    ]  # fmt: skip
    cfg = cast(SearchConfig, SimpleNamespace(confirm_top=top, confirm_seeds=1, seed=0))
    return list(dict.fromkeys(_points(cfg, results_table(rows)).values()))


@pytest.mark.parametrize("order", [SEARCH, SEARCH[::-1]], ids=["given", "reversed"])
def test_all_four_agree_on_the_best(order: list[Trial]) -> None:
    # rule: the printed first row (results.csv's first row), the MLflow best tag, the first
    # trial --confirm-top re-runs and the exported trial are one trial: the best exportable one
    table = table_order(order)
    assert table[0] == "asha"
    assert mlflow_order(order)[0] == "asha"
    assert confirmed(order, top=1) == ["asha"]
    assert exported(order) == "asha"


def test_the_exportable_trials_come_first_in_one_order() -> None:
    # rule: trials that cannot be exported (no checkpoint, pruned_nan, stopped_budget, error)
    # rank after all that can, whatever they scored; among the exportable, the one ranking
    table = table_order(SEARCH)
    assert table[: len(BEST_FIRST)] == BEST_FIRST
    assert set(table[len(BEST_FIRST) :]) == {"nan", "budget", "error", "nockpt"}
    # rule: the MLflow artifacts and --confirm-top take the same top trials, in that order
    assert mlflow_order(SEARCH) == BEST_FIRST
    assert confirmed(SEARCH, top=2) == BEST_FIRST[:2]
    assert best_trials(results_table([]), 3) == []


def test_with_the_best_exported_the_next_one_is_chosen_by_all() -> None:
    # rule: removing the winner, every consumer moves to the same runner-up
    rest = [t for t in SEARCH if t.trial_id != "asha"]
    assert table_order(rest)[0] == mlflow_order(rest)[0] == exported(rest) == "worse"
    assert confirmed(rest, top=1) == ["worse"]


def test_statuses_are_what_the_scenario_says() -> None:
    # the scenario holds what it claims: one trial of each kind that cannot be exported
    statuses = {t.trial_id: t.status for t in SEARCH}
    assert statuses["nan"] == PRUNED_NAN
    assert statuses["budget"] == STOPPED_BUDGET
    assert statuses["error"] == ERROR
    assert statuses["asha"] == STOPPED_ASHA
    assert statuses["nockpt"] == COMPLETED
