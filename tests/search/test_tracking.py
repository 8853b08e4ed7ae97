"""MLflow tracking of a real smoke search (real Ray, real Optuna, real MLflow in sqlite)."""

from __future__ import annotations

from typing import Any

import pytest
from ray import tune

from search.tracking.client import connect, flatten_params
from search.tracking.runs import RUN_STATUS, result_metrics, result_tags
from tests.search.mlflow_helpers import Smoke, ray_reports, ray_trial_ids

pytest_plugins = ["tests.search.mlflow_fixtures"]  # the session fixture `smoke`, shared


def runs_of(s: Smoke) -> Any:
    import mlflow

    mlflow.set_tracking_uri(s.tracking_uri)
    return mlflow.search_runs(experiment_names=[s.experiment], output_format="list")


def test_flatten_params_names_nested_keys_stably() -> None:
    values = {"b": 1, "a": {"y": [1, 2], "x": None}, "c": {}}
    # nested mappings become dotted names, sorted; values become text
    assert flatten_params(values) == {"a.x": "None", "a.y": "[1, 2]", "b": "1", "c": "{}"}
    # text stays text (a str has .lower/.upper, like a Ray range domain), domains by bounds
    domains = {"s": "lstm", "r": tune.loguniform(1e-4, 1e-2), "c": tune.choice([8, 16])}
    assert flatten_params(domains) == {
        "c": "choice[8, 16]",
        "r": "float(0.0001, 0.01, loguniform)",
        "s": "lstm",
    }


def test_result_tags_name_the_nan_and_the_engine() -> None:
    result = {"engine": "manual", "nan_step": 4, "nan_level": None, "objective": 1.0}
    # the trainer's engine and where a NaN appeared become tags; missing ones are left out
    assert result_tags(result) == {"engine": "manual", "nan_step": "4"}
    assert result_tags(None) == {}


def test_result_metrics_keeps_finite_numbers_only() -> None:
    result = {"objective": 1.5, "loss": float("nan"), "status": "running", "step": 8, "done": True}
    # strings, NaN and booleans are not metrics; contract keys with finite values are
    assert result_metrics(result) == {"objective": 1.5, "step": 8.0}


@pytest.mark.slow
def test_one_parent_and_one_child_per_trial(smoke: Smoke) -> None:
    runs = runs_of(smoke)
    parents = [r for r in runs if r.data.tags.get("ntm.role") == "search"]
    children = [r for r in runs if r.data.tags.get("ntm.role") == "trial"]
    # exactly one parent run for the search
    assert len(parents) == 1
    # every child is nested under it
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    # one child per Ray trial, no more, no fewer
    trial_ids = [r.data.tags["trial_id"] for r in children]
    assert sorted(trial_ids) == sorted(ray_trial_ids(smoke.experiment_dir))


@pytest.mark.slow
def test_parent_records_search_and_versions(smoke: Smoke) -> None:
    (parent,) = [r for r in runs_of(smoke) if r.data.tags.get("ntm.role") == "search"]
    params = parent.data.params
    # the search settings and library versions are parent params
    for key in ("num_samples", "seed", "smoke_test", "version.torch", "version.ray"):
        assert key in params, key
    assert "version.optuna" in params and "version.mlflow" in params
    # the project's commit is recorded where the MLflow UI shows it
    assert "mlflow.source.git.commit" in parent.data.tags
    # the search is closed with its results table and plot
    client = connect(smoke.tracking_uri)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "results.csv" in names and "plots/search.png" in plots
    # with the history plotted from the search's own Optuna study (its sqlite file)
    assert "plots/optuna_history.png" in plots
    assert parent.info.status == "FINISHED"


@pytest.mark.slow
def test_children_have_params_metrics_and_status(smoke: Smoke) -> None:
    client = connect(smoke.tracking_uri)
    children = [r for r in runs_of(smoke) if r.data.tags.get("ntm.role") == "trial"]
    for run in children:
        tags = run.data.tags
        # every trial ends with one of the four final statuses, matching the run state
        assert tags["status"] in RUN_STATUS
        assert run.info.status == RUN_STATUS[tags["status"]]
        # hyperparameters are params with flat, stable names
        assert {"lr", "controller_size", "memory_n", "seed"} <= set(run.data.params)
        # one metric point per Ray report, step = training_iteration, none twice
        reports = ray_reports(smoke.experiment_dir, tags["trial_id"])
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "training_iteration")]
        assert sorted(steps) == [r["training_iteration"] for r in reports]
        if tags["status"] != "pruned_nan":
            objective = client.get_metric_history(run.info.run_id, "objective")
            assert [m.value for m in sorted(objective, key=lambda m: m.step)] == [
                r["objective"] for r in reports
            ]


@pytest.mark.slow
def test_nan_trial_is_tagged_pruned_nan(smoke: Smoke) -> None:
    children = [r for r in runs_of(smoke) if r.data.tags.get("ntm.role") == "trial"]
    nan = [r for r in children if r.data.tags["status"] == "pruned_nan"]
    # the trial given NaN gradients at step 2 is tagged, with where and what diverged
    assert len(nan) == 1
    tags = nan[0].data.tags
    assert tags["nan_step"] == "2"
    assert int(tags["nan_level"]) >= 1
    assert "controller" in tags["nan_parameters"]
    # and it is not marked FINISHED (Ray's MLflowLoggerCallback would)
    assert nan[0].info.status == "FAILED"


@pytest.mark.slow
def test_top_completed_trials_have_plots_and_checkpoint(smoke: Smoke) -> None:
    client = connect(smoke.tracking_uri)
    children = [r for r in runs_of(smoke) if r.data.tags.get("ntm.role") == "trial"]
    finished = [r for r in children if r.data.tags["status"] in ("completed", "stopped_asha")]
    with_artifacts = [r for r in finished if client.list_artifacts(r.info.run_id, "plots")]
    # at least the best finished trial carries the plots and its final checkpoint
    assert with_artifacts
    run_id = with_artifacts[0].info.run_id
    plots = {a.path.split("/")[-1] for a in client.list_artifacts(run_id, "plots")}
    assert {"learning_curve.png", "output_vs_target.png", "weightings.png", "memory.png"} <= plots
    ckpt = {a.path for a in client.list_artifacts(run_id, "checkpoint")}
    assert "checkpoint/checkpoint.pt" in ckpt
