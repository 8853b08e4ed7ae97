"""Losing a worker mid-search: Ray crashes on it, its trials are restored elsewhere, it rejoins.

:class:`WorkerKiller` watches the search's live results on the head (the driver's result.json
files in the head's Ray session); once a trial running on the worker has reported
:data:`KILL_AT` times, it kills every process of the worker but its SSH server, by pid
(:func:`kill_node_processes`: Ray crashed there, the machine stays reachable), then measures
the seconds until that trial reports again from another node (restored from its last checkpoint
on the shared storage) and until Ray runs on the worker again (the autoscaler restarts it).
Used by tests/harness/cluster_two_hosts.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from typing import Any

from tests.harness.cluster_launch import STEP_TIMEOUT_S
from tests.harness.ssh_node import SSHNode, psutil
from tests.harness.two_hosts import LanCluster, registrations, session_dir, wait_until

__all__ = ["KILL_AT", "WorkerKiller", "kill_node_processes", "live_reports"]

KILL_AT = 2  # reports of a worker trial before the kill


def live_reports(head: SSHNode, experiment: str) -> dict[str, list[dict[str, Any]]]:
    """Every report so far of every trial, from the driver's result.json files on the head."""
    pattern = f"artifacts/*/{experiment}/driver_artifacts/*/result.json"
    out = {}
    for path in session_dir(head).glob(pattern):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        out[path.parent.name] = [json.loads(line) for line in lines]
    return out


class WorkerKiller(threading.Thread):
    """Kills the worker's processes (all but sshd) once a trial there has reported
    :data:`KILL_AT` times; then times the trial's restore elsewhere and the worker's rejoin.

    Keeps every trial's reports as the driver had them at the kill (:attr:`before_kill`): the
    result.json that Tune leaves on the storage for a trial restored after a node loss may lack
    the reports from before the loss (MLflow has them)."""

    def __init__(self, cluster: LanCluster, experiment: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.experiment = cluster, experiment
        self.killed: dict[str, Any] = {}
        self.before_kill: dict[str, list[dict[str, Any]]] = {}  # every trial's live reports
        self.seconds: dict[str, float] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _run(self) -> None:
        worker = self.cluster.hosts["worker"].address
        head = self.cluster.launch.node
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not self.killed:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no trial on {worker} reached report {KILL_AT}")
            live = live_reports(head, self.experiment)
            for trial, reports in sorted(live.items()):
                last = reports[-1] if reports else {}
                if last.get("node_ip") == worker and last.get("training_iteration", 0) >= KILL_AT:
                    assert self.cluster.worker is not None
                    joins = registrations(self.cluster, "worker")
                    kill_node_processes(self.cluster.worker)
                    self.killed, self.before_kill = {"trial_id": trial, **last}, live
                    break
            time.sleep(0.1)
        killed_at = time.monotonic()

        def restored() -> bool:
            reports = live_reports(head, self.experiment).get(self.killed["trial_id"], [])
            return any(r.get("node_ip") not in (None, worker) for r in reports)

        self.seconds["restore"] = wait_until(restored, STEP_TIMEOUT_S, "the lost trial's restore")

        def rejoined() -> bool:  # the autoscaler restarted Ray there, and it joined again
            return registrations(self.cluster, "worker") > joins

        wait_until(rejoined, STEP_TIMEOUT_S, "the worker's rejoin")
        self.seconds["rejoin"] = time.monotonic() - killed_at


def kill_node_processes(node: SSHNode) -> list[int]:
    """SIGKILL, by pid, every process of ``node`` but its SSH server (Ray crashed there)."""
    ps = psutil()
    (sshd,) = ps.Process(node.pid).children()
    victims = [p.pid for p in sshd.children(recursive=True)]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return victims
