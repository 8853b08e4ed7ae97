#!/usr/bin/env python3
"""`ray up` of a head and a worker on two hosts; a search that loses the worker; `ray down`.

    python -m tests.harness.cluster_two_hosts                     # JSON lines: seconds per step
    python -m tests.harness.cluster_two_hosts --compare-one-host  # and per-trial overhead, 2 vs 1

Root only. The hosts are network namespaces on a private LAN (``tests/harness/two_hosts.py``):
head 10.77.0.1, worker 10.77.0.2, the launcher on a client 10.77.0.3, and a listed worker
10.77.0.4 whose SSH server is down. With the README's commands, from the client:

1. ``ray up``; the worker joins (the head's GCS registers it), MLflow answers through ``ray
   attach CONFIG -p 5000``; ``ray status``, the monitor log and SSH from the head show the
   unreachable worker;
2. the search (``ray exec ... search/run.py --address auto``, 4 trials x 12 reports, shared
   storage); when a trial on the worker has reported :data:`KILL_AT` times, every process of
   the worker but its SSH server is killed (Ray crashed there): the search goes on; the times
   until that trial reports again (restored on the head) and until the autoscaler has Ray
   running on the worker again are measured;
3. the runs read back from MLflow over REST (through the forward), the best trial exported on
   the head and fetched with ``ray rsync-down``;
4. bad input: the worker cannot reach the head (an ``unreachable`` route on it): the search
   started there with ``--address auto`` over SSH;
5. MLflow stopped, ``ray down``, then Ray stopped on the worker over SSH (``ray down`` of the
   local provider stops the head only).

Every listener of the four namespaces is sampled throughout (``ss``), and this machine's own
namespace too. With ``--compare-one-host``, the same search without a kill runs on the two hosts
and on a cluster of the head alone, for the per-trial overhead (``cluster_up.overhead``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.cluster_launch import ROOT, STEP_TIMEOUT_S, on_head, run_step
from tests.harness.cluster_up import overhead, search_command
from tests.harness.lan import listeners
from tests.harness.ssh_node import psutil
from tests.harness.two_hosts import (
    LanCluster,
    lan_cluster,
    left_running,
    on_client,
    port_forward,
    registrations,
    ssh_argv,
    wait_until,
)
from tests.harness.worker_loss import WorkerKiller

EXPERIMENT = "two-hosts"
ITERATIONS = 12
# 4 trials of 12 reports (a checkpoint at each), never stopped early by ASHA or as solved
SEARCH_OPTIONS = (
    f"--num-samples 4 --max-iterations {ITERATIONS} --grace-period {ITERATIONS} "
    "--stop-bit-errors 0 --trial-seconds 0 --time-budget 240"
)
MLFLOW_REST = str(ROOT / "tests" / "harness" / "mlflow_rest.py")
MONITOR_LOG = "/tmp/ray/session_latest/logs/monitor.out"  # the autoscaler's log on the head
WORKER_STOP = "~/ntm-venv/bin/ray stop"  # the README's command for each worker


@dataclass
class Outcome:
    """What the run did and saw (see the module docstring)."""

    seconds: dict[str, float] = field(default_factory=dict)
    listeners: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # {(process, ip:port)}
    root_listeners: set[tuple[str, str]] = field(default_factory=set)  # new, of this run's pids
    status: str = ""  # `ray status` and the monitor log's tail, after the join
    killed: dict[str, Any] = field(default_factory=dict)  # the worker trial's report at the kill
    before_kill: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # live, at the kill
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # trial: reports
    table: list[str] = field(default_factory=list)  # results.csv lines
    runs: list[dict[str, Any]] = field(default_factory=list)  # MLflow runs of the experiment
    steps: dict[str, list[int]] = field(default_factory=dict)  # trial: MLflow training_iteration
    exported: Path = Path()
    exported_trial: str = ""  # the trial the export chose (metrics.json)
    unreachable_head: dict[str, Any] = field(default_factory=dict)  # rc, stderr, seconds
    left_running: dict[str, list[str]] = field(default_factory=dict)  # node: processes
    after_down: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # node: listeners


def _sampler(cluster: LanCluster, outcome: Outcome) -> Callable[[], None]:
    """A function that records every listener of the hosts (and new ones of this run's pids
    in this machine's namespace), at most once a second."""
    before = {(x.process, x.address) for x in listeners(None)}
    last = [0.0]

    def sample() -> None:
        if time.monotonic() - last[0] < 1.0:
            return
        last[0] = time.monotonic()
        for role, host in cluster.hosts.items():
            seen = {(x.process, x.address) for x in listeners(host.netns)}
            outcome.listeners.setdefault(role, set()).update(seen)
        ours = _descendants(os.getpid())
        for x in listeners(None):
            if (x.process, x.address) not in before and x.pid in ours:
                outcome.root_listeners.add((x.process, x.address))

    return sample


def _descendants(pid: int) -> set[int]:
    ps = psutil()
    try:
        return {p.pid for p in ps.Process(pid).children(recursive=True)} | {pid}
    except ps.NoSuchProcess:
        return set()


def trial_reports(experiment_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every report of every trial, from Tune's result.json files on the shared storage."""
    out = {}
    for path in sorted(experiment_dir.glob("*/result.json")):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        out[path.parent.name] = [json.loads(line) for line in lines]
    return out


def _mlflow(cluster: LanCluster, *args: str, timeout: float = 60) -> Any:
    """``tests/harness/mlflow_rest.py ARGS`` on the client, through the forward: its JSON."""
    return json.loads(on_client(cluster, [sys.executable, MLFLOW_REST, *args], timeout=timeout))


def bring_up(cluster: LanCluster, outcome: Outcome, sample: Callable[[], None]) -> None:
    """`ray up`; the worker's join (if listed); the cluster's `ray status` and monitor log."""
    launch = cluster.launch
    config = str(launch.config)
    up = launch.ray("up", "-y", "--no-config-cache", config)
    outcome.seconds["ray_up"] = run_step(launch, "ray_up", up, poll=sample)
    if cluster.worker is not None:

        def joined() -> bool:
            sample()
            return registrations(cluster, "worker") > 0

        outcome.seconds["join"] = wait_until(joined, STEP_TIMEOUT_S, "the worker's join")
    # the README's checks: who joined, the autoscaler's log, and the listed workers tried
    # over SSH from the head with the autoscaler's key (each attempt's exit code printed)
    user = cluster.launch.node.user
    tries = "".join(
        f"; ssh -i ~/ray_bootstrap_key.pem -o StrictHostKeyChecking=accept-new "
        f"-o ConnectTimeout=10 {user}@{cluster.hosts[role].address} true; echo ssh-exit=$?"
        for role in cluster.workers
    )
    status = f"ray status; tail -n 100 {MONITOR_LOG}{tries}"
    run_step(launch, "status", on_head(launch, status), poll=sample)
    outcome.status = (launch.work / "status.log").read_text()


def search(cluster: LanCluster, experiment: str, sample: Callable[[], None]) -> float:
    """The README's search on the head (``ray exec``), seconds."""
    command = search_command(cluster.launch.shared, experiment, SEARCH_OPTIONS)
    return run_step(cluster.launch, experiment, on_head(cluster.launch, command), poll=sample)


def read_back(cluster: LanCluster, outcome: Outcome) -> None:
    """The trials' reports and table from the shared storage, their MLflow runs and steps."""
    experiment_dir = cluster.shared_dir / "ray-results" / EXPERIMENT
    outcome.reports = trial_reports(experiment_dir)
    outcome.table = (experiment_dir / "results.csv").read_text().splitlines()
    outcome.runs = _mlflow(cluster, "runs", EXPERIMENT)
    for run in outcome.runs:
        tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        if tags.get("ntm.role") == "trial":
            history = _mlflow(cluster, "history", run["info"]["run_id"], "training_iteration")
            outcome.steps[tags["trial_id"]] = sorted(int(m["step"]) for m in history)


def export(cluster: LanCluster, outcome: Outcome) -> None:
    """The README's export on the head, fetched with `ray rsync-down`."""
    launch = cluster.launch
    command = (
        f"cd ~/ntm-search && python search/export.py --experiment {EXPERIMENT} "
        f"--storage-path {launch.shared}/ray-results --out exported/{EXPERIMENT}"
    )
    outcome.seconds["export"] = run_step(launch, "export", on_head(launch, command))
    fetched = launch.work / "exported"
    remote = f"~/ntm-search/exported/{EXPERIMENT}"
    rsync = launch.ray("rsync-down", str(launch.config), remote, f"{fetched}/")
    outcome.seconds["rsync_down"] = run_step(launch, "rsync_down", rsync)
    outcome.exported = fetched / EXPERIMENT
    outcome.exported_trial = json.loads((outcome.exported / "metrics.json").read_text())["trial_id"]


def unreachable_head(cluster: LanCluster) -> dict[str, Any]:
    """The search started on the worker with ``--address auto`` while the worker cannot reach
    the head (an ``unreachable`` route to its address): exit code, stderr, seconds."""
    worker, head = cluster.hosts["worker"], cluster.hosts["head"]
    route = ["ip", "-n", worker.netns, "route", "add", "unreachable", f"{head.address}/32"]
    subprocess.run(route, check=True, timeout=30)
    command = (
        "cd ~/ntm-search && ~/ntm-venv/bin/python search/run.py --address auto --smoke-test "
        f"--storage-path {cluster.launch.shared}/ray-results --shared-storage "
        "--experiment unreachable-head"
    )
    try:
        start = time.monotonic()
        done = subprocess.run(
            ssh_argv(cluster, "worker", command), capture_output=True, text=True, timeout=120
        )
        seconds = time.monotonic() - start
    finally:
        route[4] = "del"
        subprocess.run(route, check=True, timeout=30)
    return {"rc": done.returncode, "stderr": done.stderr, "seconds": seconds}


def bring_down(cluster: LanCluster, outcome: Outcome) -> None:
    """The README's end: MLflow stopped, `ray down`, Ray stopped on the worker over SSH."""
    launch = cluster.launch
    stop_mlflow = on_head(launch, 'kill -- "-$(cat ~/mlflow/server.pid)"')
    outcome.seconds["mlflow_stop"] = run_step(launch, "mlflow_stop", stop_mlflow)
    down = launch.ray("down", "-y", str(launch.config))
    outcome.seconds["ray_down"] = run_step(launch, "ray_down", down)
    if cluster.worker is not None:
        stop = ssh_argv(cluster, "worker", WORKER_STOP)
        outcome.seconds["worker_stop"] = run_step(launch, "worker_stop", stop)


def run_two_hosts(cluster: LanCluster, *, timing_search: bool = False) -> Outcome:
    """Steps 1-5 of the module docstring; ``timing_search``: first the same search without a
    kill (experiment ``EXPERIMENT-timing``), for the overhead figures."""
    outcome = Outcome()
    sample = _sampler(cluster, outcome)
    bring_up(cluster, outcome, sample)
    with port_forward(cluster.launch):
        outcome.seconds["mlflow_ready"] = _mlflow(cluster, "wait", "300", timeout=320)
        if timing_search:
            outcome.seconds["search_no_kill"] = search(cluster, f"{EXPERIMENT}-timing", sample)
        killer = WorkerKiller(cluster, EXPERIMENT)
        killer.start()
        outcome.seconds["search"] = search(cluster, EXPERIMENT, sample)
        read_back(cluster, outcome)
        export(cluster, outcome)
        killer.join(STEP_TIMEOUT_S)
        if killer.error is not None or killer.is_alive():
            raise RuntimeError(f"the worker's kill, restore or rejoin failed: {killer.error}")
        outcome.killed, outcome.before_kill = killer.killed, killer.before_kill
        outcome.seconds.update(killer.seconds)
        sample()
        outcome.unreachable_head = unreachable_head(cluster)
        bring_down(cluster, outcome)
    nodes = {"head": cluster.launch.node, "worker": cluster.worker}
    outcome.left_running = {role: left_running(node) for role, node in nodes.items() if node}
    outcome.after_down = {
        role: {(x.process, x.address) for x in listeners(cluster.hosts[role].netns)}
        for role in nodes
    }
    return outcome


def one_host_search(cluster: LanCluster) -> float:
    """`ray up` of the head alone, the same search (no kill), `ray down`: the search's seconds."""
    outcome = Outcome()
    bring_up(cluster, outcome, lambda: None)
    with port_forward(cluster.launch):
        _mlflow(cluster, "wait", "300", timeout=320)
        seconds = search(cluster, f"{EXPERIMENT}-timing", lambda: None)
        bring_down(cluster, outcome)
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--compare-one-host", action="store_true", help="also the per-trial overhead, 2 vs 1 host"
    )
    args = p.parse_args(argv)
    venv = Path(sys.prefix)
    with lan_cluster(venv) as cluster:
        outcome = run_two_hosts(cluster, timing_search=args.compare_one_host)
        timing = cluster.shared_dir / "ray-results" / f"{EXPERIMENT}-timing"
        two = (
            overhead(outcome.seconds["search_no_kill"], timing, slots=4) if timing.exists() else {}
        )
    for step, value in outcome.seconds.items():
        print(json.dumps({"step": step, "seconds": round(value, 2)}), flush=True)
    ips = {role: sorted({a for _, a in seen}) for role, seen in outcome.listeners.items()}
    print(json.dumps({"listeners": ips, "root_namespace_new": sorted(outcome.root_listeners)}))
    seen = {t: [*outcome.before_kill.get(t, []), *rs] for t, rs in outcome.reports.items()}
    nodes = {t: sorted({r["node_ip"] for r in rs}) for t, rs in seen.items()}
    killed, exported = outcome.killed.get("trial_id"), outcome.exported_trial
    print(json.dumps({"trial_nodes": nodes, "killed": killed, "exported": exported}))
    print(json.dumps({"unreachable_head": outcome.unreachable_head}))
    if two:
        print(json.dumps({"search": "two hosts (2 + 2 CPUs)", **two}), flush=True)
        with lan_cluster(venv, workers=()) as cluster:
            wall = one_host_search(cluster)
            timing = cluster.shared_dir / "ray-results" / f"{EXPERIMENT}-timing"
            one = overhead(wall, timing, slots=2)
        print(json.dumps({"search": "head alone (2 CPUs)", **one}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
