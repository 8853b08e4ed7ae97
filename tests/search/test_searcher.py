"""NTMOptunaSearch's start points (rule 8 of search/space/searcher.py), without a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from search.space.parse import parse_space
from search.space.searcher import NTMOptunaSearch
from search.space.study import open_storage

POINTS = [{"lr": 1e-3, "batch_size": 8}, {"lr": 2e-3, "batch_size": 16}, {"lr": 3e-3}]


def searcher(db: Path, points: list[dict[str, Any]] | None = POINTS) -> NTMOptunaSearch:
    space = parse_space(
        {
            "task": "copy",
            "params": {
                "lr": {"loguniform": [1e-4, 1e-2]},
                "batch_size": {"choice": [8, 16]},
            },
        },
        source="t.yaml",
    )
    return NTMOptunaSearch(
        space,
        metric="objective",
        mode="min",
        storage=open_storage(f"sqlite:///{db}"),
        study_name="s",
        points_to_evaluate=points,
        trial_seed=0,
    )


def study_trials(db: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="s", storage=f"sqlite:///{db}").get_trials()


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_start_points_are_enqueued_one_trial_at_a_time(tmp_path: Path) -> None:
    db = tmp_path / "optuna.db"
    search = searcher(db)
    first, second = search.suggest("a"), search.suggest("b")
    # Rule 8: the first trials run the start points, in their order ...
    assert first is not None and second is not None
    assert {k: first[k] for k in POINTS[0]} == POINTS[0]
    assert {k: second[k] for k in POINTS[1]} == POINTS[1]
    # ... and the study holds only the trials asked: no start point left WAITING behind.
    assert [t.state for t in study_trials(db)] == [TrialState.RUNNING] * 2
    third = search.suggest("c")
    assert third is not None and third["lr"] == POINTS[2]["lr"]
    search.suggest("d")  # past the start points: the sampler's own proposal
    assert len(study_trials(db)) == 4
    assert TrialState.WAITING not in {t.state for t in study_trials(db)}


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_restore_does_not_enqueue_a_start_point_twice(tmp_path: Path) -> None:
    db, snapshot = tmp_path / "optuna.db", tmp_path / "searcher.pkl"
    before = searcher(db)
    before.suggest("a")
    before.save(str(snapshot))
    before.suggest("b")  # asked after the snapshot: start point 1 is in the study, RUNNING
    after = searcher(db, points=POINTS)  # as Tuner.restore builds it, then restores it
    after.restore(str(snapshot))
    resumed, fresh = after.suggest("c"), after.suggest("d")
    # Rule 7 and 8: the orphan runs start point 1; the next trial runs start point 2, and
    # the study holds each start point once.
    assert resumed is not None and fresh is not None
    assert (resumed["lr"], fresh["lr"]) == (POINTS[1]["lr"], POINTS[2]["lr"])
    held = [t.system_attrs.get("fixed_params") for t in study_trials(db)]
    assert held == POINTS
