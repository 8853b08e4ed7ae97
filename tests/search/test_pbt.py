"""--scheduler pbt end to end: a real PBT smoke search (real Ray, real MLflow in sqlite) in
which trials are exploited, their mutated lr and curriculum parameters reach the trainer, and
their MLflow child runs name the trial they copied and the step."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ntm.trainer import Trainer
from search.tracking.client import connect
from search.trial.experiment_files import RESULTS_CSV
from search.trial.trainable import CHECKPOINT_FILE
from tests.search.mlflow_helpers import Smoke, run_search, short_tmp

MAX_ITERATIONS = 6  # 4 trials perturbed every iteration (10% of 6, at least 1)


@pytest.fixture(scope="module")
def pbt() -> Iterator[Smoke]:
    root = short_tmp()
    uri = f"sqlite:///{root}/mlflow.db"
    extra = ("--scheduler", "pbt", "--max-iterations", str(MAX_ITERATIONS))
    done = run_search(root / "ray", "pbt", uri, *extra, cwd=root)
    if done.returncode != 0:
        pytest.fail(f"PBT smoke search failed ({done.returncode}):\n{done.stderr[-3000:]}")
    yield Smoke(root, root / "ray", "pbt", uri, done.stdout)
    shutil.rmtree(root, ignore_errors=True)


def children(s: Smoke) -> dict[str, Any]:
    """trial id -> its MLflow child run."""
    client = connect(s.tracking_uri)
    experiment = client.get_experiment_by_name(s.experiment)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], "tags.`ntm.role` = 'trial'")
    return {r.data.tags["trial_id"]: r for r in runs}


def final_config(s: Smoke, trial_id: str) -> dict[str, Any]:
    """The trial's config at its end (Ray rewrites params.json when PBT changes it)."""
    return dict(json.loads((s.experiment_dir / trial_id / "params.json").read_text()))


@pytest.mark.slow
def test_exploited_trials_train_with_their_mutated_values(pbt: Smoke) -> None:
    runs = children(pbt)
    exploited = {t: r for t, r in runs.items() if "exploited_from" in r.data.tags}
    # Rule: the search exploited: at least one trial copied another trial's checkpoint
    assert exploited, {t: r.data.tags.get("status") for t, r in runs.items()}
    table = pd.read_csv(pbt.experiment_dir / RESULTS_CSV, dtype={"trial_id": str})
    # Rule: one row per trial, under its own id (a trial that copied a finished one included)
    assert sorted(table["trial_id"]) == sorted(runs)
    checkpoints = dict(zip(table["trial_id"], table["checkpoint"], strict=True))
    changed = 0
    for trial_id, run in exploited.items():
        at = int(run.data.tags["exploited_at_step"])
        if at == MAX_ITERATIONS:  # it copied a finished trial: nothing was left to train
            continue
        config = final_config(pbt, trial_id)
        trainer = Trainer.from_checkpoint(Path(checkpoints[trial_id]) / CHECKPOINT_FILE)
        # Rule: the trainer's optimizer ran at the trial's (mutated) lr, up to its last report,
        # and its recorded config says so
        assert trainer.history[-1]["lr"] == pytest.approx(config["lr"], rel=1e-12)
        assert trainer.config.train.lr == pytest.approx(config["lr"], rel=1e-12)
        # Rule: the curriculum was built with the trial's (mutated) pace parameters
        for key in ("patience", "min_delta", "mastery_threshold", "step"):
            assert trainer.config.curriculum.params[key] == pytest.approx(config[key]), key
        # the copied report (at the exploited step) ran at the lr of the trial it copied
        changed += trainer.history[at - 1]["lr"] != trainer.history[-1]["lr"]
    # Rule: an exploit changed the lr it copied (a mutation, not a plain copy), and the trainer
    # uses the new one (without set_hyperparameters it would keep the copied optimizer's lr)
    assert changed >= 1


@pytest.mark.slow
def test_mlflow_child_names_the_trial_it_copied_and_the_step(pbt: Smoke) -> None:
    runs = children(pbt)
    client = connect(pbt.tracking_uri)
    exploited = {t: r for t, r in runs.items() if "exploited_from" in r.data.tags}
    assert exploited
    for trial_id, run in exploited.items():
        source, at = run.data.tags["exploited_from"], int(run.data.tags["exploited_at_step"])
        # Rule: the copied trial is another trial of this search, at one of its steps
        assert source in runs and source != trial_id
        assert 1 <= at <= MAX_ITERATIONS
        # Rule: the reports after the exploit are logged, with the lr metric at each step (one
        # that copied a finished trial reports that copied end once, one step on)
        steps = [int(m.step) for m in client.get_metric_history(run.info.run_id, "lr")]
        assert at + 1 in steps
    # Rule: a trial never exploited has no exploit tags
    assert all(
        "exploited_at_step" not in r.data.tags for t, r in runs.items() if t not in exploited
    )


@pytest.mark.slow
def test_pbt_search_has_no_optuna_study(pbt: Smoke) -> None:
    # Rule: PBT runs without a searcher: no Optuna study file, all trials finished
    assert not (pbt.experiment_dir / "optuna.db").exists()
    table = pd.read_csv(pbt.experiment_dir / RESULTS_CSV, dtype={"trial_id": str})
    assert len(table) == 4 and set(table["status"]) == {"completed"}
