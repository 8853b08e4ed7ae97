"""Multi-node searches with search/run.py on a real Ray cluster on 127.0.0.1.

The cluster (``tests.harness.local_cluster``) is a CPU-less head and two 1-CPU workers, like
cluster.yaml in miniature; run.py joins it with ``--address`` as it joins a real one.

- run.py refuses a local storage path on the cluster unless it is declared shared;
- a smoke search spreads its trials over both workers (node ids reported by the trials);
- losing a worker mid-trial: its trial is restored from its last checkpoint on the surviving
  worker (FailureConfig), the search completes with every trial, and MLflow holds exactly one
  run per trial with continuous steps.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray.cluster_utils import Cluster

from ntm.cli import UsageError
from search.cluster.storage import SHARED_STORAGE_ENV
from search.run import main as run_main
from tests.harness.local_cluster import local_cluster

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    # With a searcher (Optuna), Tune keeps ONE trial pending at a time, so the second worker's
    # actor would only be started after the first trial runs and, with reused actors, tiny
    # trials would all land on the first worker. Two pending trials fill both workers at once.
    monkeypatch.setenv("TUNE_MAX_PENDING_TRIALS_PG", "2")
    # run.py is the driver: it connects with --address (and disconnects) itself
    with local_cluster(workers=2, cpus_per_worker=1, connect=False) as c:
        yield c


def worker_ids(cluster: Cluster) -> set[str]:
    return {node.node_id for node in cluster.worker_nodes}


def trial_reports(
    experiment: Path, pattern: str = "*/result.json"
) -> dict[str, list[dict[str, Any]]]:
    """Every report of every trial, in order, from Tune's result.json files."""
    out = {}
    for path in sorted(experiment.glob(pattern)):
        lines = path.read_text().splitlines()
        out[path.parent.name] = [json.loads(line) for line in lines if line.strip()]
    return out


def search_args(cluster: Cluster, tmp_path: Path, experiment: str) -> list[str]:
    return [
        "--smoke-test",
        "--address",
        str(cluster.address),
        "--storage-path",
        str(tmp_path / "ray"),
        "--experiment",
        experiment,
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
    ]


def test_smoke_search_runs_trials_on_both_workers(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root (./mlruns) stays out of the repo
    args = search_args(cluster, tmp_path, "smoke-multinode")
    # a local storage path on a multi-node cluster is refused, with a one-line explanation
    monkeypatch.delenv(SHARED_STORAGE_ENV, raising=False)
    with pytest.raises(UsageError, match="local to one machine") as info:
        run_main(args)
    assert "\n" not in str(info.value)
    # declared shared (every node of this test cluster shares this disk), the search runs;
    # here by the environment (the node-loss test uses --shared-storage)
    monkeypatch.setenv(SHARED_STORAGE_ENV, "1")
    assert run_main(args) == 0
    reports = trial_reports(tmp_path / "ray" / "smoke-multinode")
    # every smoke trial reported
    assert len(reports) == 4 and all(reports.values())
    # trials ran on both worker nodes, never on the CPU-less head
    assert {r["node_id"] for rs in reports.values() for r in rs} == worker_ids(cluster)


def kill_a_busy_worker(cluster: Cluster, experiment: str, *, at_iteration: int) -> dict[str, Any]:
    """Crash the worker node of the first running trial seen past ``at_iteration``.

    While a search runs, the driver writes each trial's result.json under the session's
    artifacts directory (synced to --storage-path later), so that is where progress is seen.
    """
    assert cluster.head_node is not None
    session = Path(cluster.head_node.get_session_dir_path())
    live = f"artifacts/*/{experiment}/driver_artifacts/*/result.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        latest = {}
        for trial_id, reports in trial_reports(session, live).items():
            if reports and reports[-1]["status"] == "running":
                latest[trial_id] = reports[-1]
        for trial_id, report in sorted(latest.items()):
            if report["training_iteration"] >= at_iteration:
                node = next(n for n in cluster.worker_nodes if n.node_id == report["node_id"])
                cluster.remove_node(node, allow_graceful=False)
                return {"trial_id": trial_id, **report}
        time.sleep(0.05)
    raise TimeoutError(f"no trial reached iteration {at_iteration} while running")


def test_search_survives_the_loss_of_a_worker(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root (./mlruns) stays out of the repo
    iterations = 16  # long enough that the kill at iteration 2 lands while the trial runs
    args = [
        *search_args(cluster, tmp_path, "node-loss"),
        "--shared-storage",
        "--num-samples", "2",
        "--max-iterations", str(iterations),
        "--grace-period", str(iterations),  # no ASHA stop: every trial runs to its end
        "--stop-bit-errors", "0",  # never "solved" early (bit errors are never below 0)
        "--trial-seconds", "0",
        "--time-budget", "100",
    ]  # fmt: skip
    experiment = tmp_path / "ray" / "node-loss"
    killed: dict[str, Any] = {}
    killer = threading.Thread(
        target=lambda: killed.update(kill_a_busy_worker(cluster, "node-loss", at_iteration=2))
    )
    killer.start()
    status = run_main(args)
    killer.join()

    # a worker was crashed (no graceful shutdown) while its trial was running
    assert killed and killed["node_id"] not in worker_ids(cluster)
    reports = trial_reports(experiment)
    table = {row["trial_id"]: row for row in _read_csv(experiment / "results.csv")}
    # the search completed: both trials are there, completed, none errored or lost
    assert status == 0 and sorted(table) == sorted(reports) and len(reports) == 2
    assert {row["status"] for row in table.values()} == {"completed"}
    lost = reports[killed["trial_id"]]
    after = [r for r in lost if r["node_id"] != killed["node_id"]]
    # the lost trial went on on the surviving worker ...
    assert after and {r["node_id"] for r in after} == worker_ids(cluster)
    # ... from its last checkpoint (not from scratch): iterations continue, and the optimizer's
    # step count carried over the restore. (Reports the dead node wrote before the kill may
    # never reach its result.json, so the steps are checked against the restored trial's own
    # steps per iteration, not against reports from before the kill.)
    assert after[0]["training_iteration"] > 1
    assert [r["training_iteration"] for r in after] == list(
        range(after[0]["training_iteration"], iterations + 1)
    )
    per_iteration = after[1]["step"] - after[0]["step"]
    assert per_iteration > 0
    assert after[0]["step"] == after[0]["training_iteration"] * per_iteration

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("node-loss")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`ntm.role` = 'trial'")
    # MLflow holds exactly one run per trial
    assert sorted(r.data.tags["trial_id"] for r in runs) == sorted(reports)
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "training_iteration")
        # with continuous steps 1..N, each logged once despite the replay after the restore
        assert sorted(int(m.step) for m in history) == list(range(1, iterations + 1))


def _read_csv(path: Path) -> list[dict[str, Any]]:
    import pandas as pd

    return [{str(k): v for k, v in row.items()} for row in pd.read_csv(path).to_dict("records")]
