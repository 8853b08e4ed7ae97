"""The link to the MLflow UI that a search prints at its end (issue 15: MLflow 3 opens an
experiment in its GenAI view, where no run appears)."""

from __future__ import annotations

from search.tracking.client import UI_PORT, connect, ui_runs_url
from tests.search.mlflow_helpers import Smoke

pytest_plugins = ["tests.search.mlflow_fixtures"]  # the session fixture `smoke`, shared


def test_search_ends_with_the_runs_url_of_its_experiment(smoke: Smoke) -> None:
    exp = connect(smoke.tracking_uri).get_experiment_by_name(smoke.experiment)
    assert exp is not None
    last = smoke.stdout.strip().splitlines()[-1]
    # the UI command for this store, then the "Model training" runs page of this experiment
    assert f"mlflow ui --backend-store-uri {smoke.tracking_uri} --host 127.0.0.1" in last
    page = f"#/experiments/{exp.experiment_id}/runs?workflowType=machine_learning"
    assert last.endswith(f"http://127.0.0.1:{UI_PORT}/{page}")


def test_a_server_uri_links_to_the_server_itself() -> None:
    # a tracking server is its own UI: no command, the page under its address
    assert ui_runs_url("http://127.0.0.1:5001/", "7") == (
        "MLflow runs: http://127.0.0.1:5001/#/experiments/7/runs?workflowType=machine_learning"
    )
