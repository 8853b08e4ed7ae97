"""Multi-node searches on a real 3-node Ray cluster on 127.0.0.1 (head + two 1-CPU workers).

- a smoke search spreads its trials over both workers (node ids reported by the trials);
- losing a worker mid-trial: its trial is restored from its last checkpoint on the surviving
  worker (FailureConfig), the search completes with every trial, and MLflow holds exactly one
  run per trial with continuous steps;
- require_shared_storage refuses a local storage path on the cluster unless declared shared.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from ray import tune
from ray.cluster_utils import Cluster

from ntm.cli import UsageError
from search.cluster import alive_nodes, local_cluster, require_shared_storage

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with local_cluster(workers=2, cpus_per_worker=1) as c:
        yield c


def stepping_trainable(config: dict[str, Any]) -> None:
    """A tiny real trainable: one report + checkpoint per step, resumable, tells where it runs.

    Each (re)start appends ``{"node_id", "step", "resumed_from"}`` lines to a per-trial log on the
    shared disk, so the test sees every attempt, including the one on the node that was lost.
    """
    node_id = ray.get_runtime_context().get_node_id()
    trial_id = tune.get_context().get_trial_id()
    resumed_from = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as path:
            resumed_from = int(json.loads((Path(path) / "state.json").read_text())["step"])
    log = Path(config["log_dir"]) / f"{trial_id}.jsonl"
    for step in range(resumed_from + 1, config["steps"] + 1):
        time.sleep(config["seconds_per_step"])
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "state.json").write_text(json.dumps({"step": step}))
            with log.open("a") as f:
                f.write(json.dumps({"node_id": node_id, "step": step, "resumed_from": resumed_from}))
                f.write("\n")
            status = "completed" if step == config["steps"] else "running"
            metrics = {"objective": 1.0 / step, "step": step, "status": status, "node_id": node_id}
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def tuner(
    storage: Path, log_dir: Path, *, trials: int, steps: int, callbacks: list[Any]
) -> tune.Tuner:
    return tune.Tuner(
        tune.with_resources(stepping_trainable, {"cpu": 1}),
        param_space={
            "seed": tune.grid_search(list(range(trials))),
            "steps": steps,
            "seconds_per_step": 0.4,
            "log_dir": str(log_dir),
        },
        tune_config=tune.TuneConfig(metric="objective", mode="min"),
        run_config=tune.RunConfig(
            name="multinode",
            storage_path=str(storage),
            failure_config=tune.FailureConfig(max_failures=3),
            callbacks=callbacks,
            verbose=0,
        ),
    )


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def worker_ids(cluster: Cluster) -> set[str]:
    return {node.node_id for node in cluster.worker_nodes}


def test_smoke_search_runs_trials_on_both_workers(cluster: Cluster, tmp_path: Path) -> None:
    # three alive nodes: the head and two workers
    assert len(alive_nodes()) == 3
    # a local storage path on a multi-node cluster is refused with a one-line explanation
    with pytest.raises(UsageError) as info:
        require_shared_storage(str(tmp_path))
    assert "local to one machine" in str(info.value) and "\n" not in str(info.value)
    # remote URIs and explicitly shared mounts (here: all nodes share this machine's disk) pass
    require_shared_storage("s3://bucket/ntm-search")
    require_shared_storage(f"file://{tmp_path}", shared=True)

    logs = tmp_path / "logs"
    logs.mkdir()
    started = time.monotonic()
    results = tuner(tmp_path / "ray", logs, trials=4, steps=3, callbacks=[]).fit()
    # every trial completed all its steps without error
    assert results.num_errors == 0 and len(results) == 4
    assert all(r.metrics["step"] == 3 for r in results)
    # trials ran on both worker nodes, never on the CPU-less head
    assert {r.metrics["node_id"] for r in results} == worker_ids(cluster)
    print(f"smoke search: {time.monotonic() - started:.1f} s")


def kill_worker_of_first_trial(cluster: Cluster, logs: Path, *, at_step: int) -> dict[str, str]:
    """Wait until two trials run on different workers, one past ``at_step``; crash its node."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        nodes = {}
        for log in logs.glob("*.jsonl"):
            lines = read_log(log)
            if lines:
                nodes[log.stem] = (lines[-1]["node_id"], lines[-1]["step"])
        if len({n for n, _ in nodes.values()}) == 2:
            for trial_id, (node_id, step) in sorted(nodes.items()):
                if step >= at_step:
                    node = next(n for n in cluster.worker_nodes if n.node_id == node_id)
                    cluster.remove_node(node, allow_graceful=False)
                    return {"trial_id": trial_id, "node_id": node_id}
        time.sleep(0.1)
    raise TimeoutError("trials never ran on both workers")


def test_search_survives_the_loss_of_a_worker(cluster: Cluster, tmp_path: Path) -> None:
    from search.tracking import make_tracking_callback

    logs = tmp_path / "logs"
    logs.mkdir()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    callback = make_tracking_callback(uri, "multinode", {"trials": 2})
    steps = 8
    killed: dict[str, str] = {}
    killer = threading.Thread(
        target=lambda: killed.update(kill_worker_of_first_trial(cluster, logs, at_step=3))
    )
    killer.start()
    results = tuner(tmp_path / "ray", logs, trials=2, steps=steps, callbacks=[callback]).fit()
    killer.join()

    # a worker was lost (its processes killed, no graceful shutdown) while its trial ran
    assert killed and killed["node_id"] not in worker_ids(cluster)
    # the search completed: no trial lost, none errored, each reached its last step
    assert results.num_errors == 0 and len(results) == 2
    assert all(r.metrics["step"] == steps for r in results)
    lost = read_log(logs / f"{killed['trial_id']}.jsonl")
    before = [line for line in lost if line["node_id"] == killed["node_id"]]
    after = [line for line in lost if line["node_id"] != killed["node_id"]]
    # the lost trial resumed on the surviving worker from its last checkpoint, not from scratch
    assert before and after and after[0]["resumed_from"] >= 1
    assert after[0]["resumed_from"] in {line["step"] for line in before}
    assert after[0]["step"] == after[0]["resumed_from"] + 1 and after[-1]["step"] == steps

    client = callback.client
    runs = client.search_runs([callback.experiment_id()], filter_string="tags.`ntm.role` = 'trial'")
    # MLflow holds exactly one run per trial, all under the one search run
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {callback.ensure_parent()}
    assert sorted(r.data.tags["trial_id"] for r in runs) == sorted(
        r.metrics["trial_id"] for r in results
    )
    for run in runs:
        # the run is closed with the trial's final status
        assert run.data.tags["status"] == "completed" and run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "training_iteration")
        # its steps are continuous, 1..steps, each logged once despite the replay after restore
        assert sorted(int(m.step) for m in history) == list(range(1, steps + 1))
