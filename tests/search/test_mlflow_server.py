"""A search against a real ``mlflow server`` on 127.0.0.1, killed (SIGKILL) and resumed:
checked over the server's REST API with plain urllib."""

from __future__ import annotations

import shutil
import time

import pytest

from search.trial.status import FINAL_STATUSES
from tests.search.mlflow_helpers import (
    SEARCH_TIMEOUT_S,
    kill_group,
    ray_reports,
    ray_trial_ids,
    rest_metric_steps,
    rest_search_runs,
    run_search,
    short_tmp,
    start_search,
    tags_of,
)

pytest_plugins = ["tests.search.mlflow_fixtures"]  # the session fixture `mlflow_server`


def logged_steps(url: str, experiment: str) -> int:
    """Reports logged so far to the experiment's trial runs (0 before the experiment exists)."""
    try:
        runs = rest_search_runs(url, experiment)
    except OSError:
        return 0
    trials = [r for r in runs if tags_of(r).get("ntm.role") == "trial"]
    steps = [rest_metric_steps(url, r["info"]["run_id"], "training_iteration") for r in trials]
    return sum(len(s) for s in steps)


@pytest.mark.slow
def test_killed_and_resumed_search_keeps_one_run_per_trial(mlflow_server: str) -> None:
    url, experiment = mlflow_server, "served"
    root = short_tmp()
    storage = root / "ray"
    try:
        proc = start_search(storage, experiment, url, "--max-iterations", "6", cwd=root)
        deadline = time.monotonic() + SEARCH_TIMEOUT_S
        # kill -9 once Ray has snapshotted the experiment and some reports reached MLflow
        while time.monotonic() < deadline and proc.poll() is None:
            snapshot = list((storage / experiment).glob("experiment_state-*.json"))
            if snapshot and logged_steps(url, experiment) >= 2:
                break
            time.sleep(1.0)
        interrupted = proc.poll() is None
        kill_group(proc)
        # the search really was killed mid-way (not already finished)
        assert interrupted
        resumed = run_search(storage, experiment, url, "--resume", cwd=root)
        assert resumed.returncode == 0, resumed.stderr[-3000:]

        runs = rest_search_runs(url, experiment)
        parents = [r for r in runs if tags_of(r).get("ntm.role") == "search"]
        children = [r for r in runs if tags_of(r).get("ntm.role") == "trial"]
        # the resumed search continued the same parent run: still exactly one
        assert len(parents) == 1
        assert parents[0]["info"]["status"] == "FINISHED"
        parent_id = parents[0]["info"]["run_id"]
        assert all(tags_of(r)["mlflow.parentRunId"] == parent_id for r in children)
        # one run per trial: no trial id twice, and every Ray trial has its run
        ids = [tags_of(r)["trial_id"] for r in children]
        assert len(ids) == len(set(ids))
        known = ray_trial_ids(storage / experiment)
        assert known <= set(ids)
        # a run whose trial Ray does not know after the kill (it started after Ray's last
        # snapshot) is closed: marked lost if the kill left it running, or already closed
        # with its final status if it ended before the kill; no run is left running
        for run in children:
            tags = tags_of(run)
            if tags["trial_id"] not in known:
                assert tags.get("ntm.lost") == "true" or tags.get("status") in FINAL_STATUSES
            assert run["info"]["status"] != "RUNNING"
        for run in children:
            trial_id = tags_of(run)["trial_id"]
            if trial_id not in known:
                continue
            steps = rest_metric_steps(url, run["info"]["run_id"], "training_iteration")
            reports = ray_reports(storage / experiment, trial_id)
            iterations = {r["training_iteration"] for r in reports}
            # every reported iteration exactly once (replayed reports are not logged again)
            assert steps == sorted(iterations) == list(range(1, len(steps) + 1))
    finally:
        shutil.rmtree(root, ignore_errors=True)
