#!/usr/bin/env python3
"""`ray up` for real: cluster.local.yaml launched on this machine, a search run on it, `ray down`.

    python -m tests.harness.cluster_up                 # one JSON line per step (seconds), root only
    python -m tests.harness.cluster_up --compare-local # also the same smoke search in-process

This machine becomes the head of a one-node cluster (``tests/harness/ssh_node.py``: sshd on
127.0.0.1:22 in its own PID and mount namespaces). The config handed to ``ray up`` is derived
from cluster.local.yaml by changing only values its ``CHANGE:`` comments mark (head IP, worker
IPs, SSH user and key, shared directory, cluster name; ``tests/harness/derive_config.py`` refuses
anything else) and passes ``python -m search.cluster.check``. Then, with the README's commands:
``ray up``; the smoke search through ``ray exec CONFIG "... python search/run.py --address
auto ..."``, tracked by the MLflow server that the head start commands launched; its runs read
back over REST; the best trial exported on the head and fetched with ``ray rsync-down``; MLflow
stopped; ``ray down``. Every listener of the node is sampled while it is up. Whatever happens,
every process of the node is killed by pid at the end (``tests/harness/cluster_launch.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.cluster_launch import (
    ROOT,
    STEP_TIMEOUT_S,
    Launch,
    launched,
    on_head,
    ray_cli,
    run_step,
)
from tests.harness.mlflow_rest import mlflow_runs, wait_for_mlflow
from tests.harness.ssh_node import node_listeners, psutil

EXPERIMENT = "smoke-cluster"


def search_command(shared: str, experiment: str = EXPERIMENT, options: str = "") -> str:
    """The README's search on the head, as the smoke test (tracked by the head's MLflow), with
    ``options`` added."""
    return (
        "cd ~/ntm-search && python search/run.py --address auto --smoke-test "
        f"--storage-path {shared}/ray-results --shared-storage --experiment {experiment}"
        + (f" {options}" if options else "")
    )


@dataclass(frozen=True)
class Outcome:
    """What one launched run did: step seconds, listeners seen, runs tracked, the export."""

    seconds: dict[str, float]
    listeners: dict[str, set[str]]  # every listening socket of the node while it was up
    runs: list[dict[str, Any]]  # the experiment's MLflow runs, read over REST
    trial_ids: set[str]  # the trials of the Ray experiment in the shared directory
    exported: Path  # the export, fetched to this machine with `ray rsync-down`
    left_running: list[str]  # node processes other than sshd after MLflow stop and `ray down`


def experiment_dir(launch: Launch) -> Path:
    """The search's Ray experiment in the node's shared directory, seen from this machine."""
    return launch.node.home / "ntm-shared" / "ray-results" / EXPERIMENT


def run_cluster(launch: Launch) -> Outcome:
    """`ray up`, the search, REST read-back, export, MLflow stop and `ray down` (README order)."""
    seconds: dict[str, float] = {}
    seen: dict[str, set[str]] = {}

    def sample() -> None:
        for name, addresses in node_listeners(launch.node).items():
            seen.setdefault(name, set()).update(addresses)

    config = str(launch.config)
    seconds["ray_up"] = run_step(launch, "ray_up", ray_cli("up", "-y", "--no-config-cache", config))
    seconds["mlflow_ready"] = wait_for_mlflow(STEP_TIMEOUT_S)
    sample()
    search = search_command(launch.shared)
    seconds["search"] = run_step(launch, "search", on_head(launch, search), poll=sample)
    sample()
    runs = mlflow_runs(EXPERIMENT)
    trial_ids = {p.parent.name for p in experiment_dir(launch).glob("*/params.json")}
    export = (
        f"cd ~/ntm-search && python search/export.py --experiment {EXPERIMENT} "
        f"--storage-path {launch.shared}/ray-results --out exported/{EXPERIMENT}"
    )
    seconds["export"] = run_step(launch, "export", on_head(launch, export))
    fetched = launch.work / "exported"
    remote = f"~/ntm-search/exported/{EXPERIMENT}"
    seconds["rsync_down"] = run_step(
        launch, "rsync_down", ray_cli("rsync-down", config, remote, f"{fetched}/")
    )
    stop_mlflow = 'kill -- "-$(cat ~/mlflow/server.pid)"'
    seconds["mlflow_stop"] = run_step(launch, "mlflow_stop", on_head(launch, stop_mlflow))
    seconds["ray_down"] = run_step(launch, "ray_down", ray_cli("down", "-y", config))
    return Outcome(seconds, seen, runs, trial_ids, fetched / EXPERIMENT, _left_running(launch))


def _left_running(launch: Launch) -> list[str]:
    """Node processes other than sshd's, a few seconds after `ray down` (none expected)."""
    ps = psutil()
    deadline = time.monotonic() + 15
    while True:
        names = []
        for proc in ps.Process(launch.node.pid).children(recursive=True):
            with contextlib.suppress(ps.Error):
                if proc.name() != "sshd":
                    names.append(f"{proc.pid}:{' '.join(proc.cmdline())[:80]}")
        if not names or time.monotonic() > deadline:
            return names
        time.sleep(0.5)


def trial_compute_s(experiment_dir: Path) -> tuple[float, int]:
    """Mean seconds inside the trainable per trial (Ray's last time_total_s), and trials."""
    totals = []
    for result in experiment_dir.glob("*/result.json"):
        lines = [line for line in result.read_text().splitlines() if line.strip()]
        totals.append(float(json.loads(lines[-1])["time_total_s"]))
    if not totals:
        raise RuntimeError(f"no trial results in {experiment_dir}")
    return sum(totals) / len(totals), len(totals)


def overhead(wall_s: float, experiment_dir: Path, *, slots: int | None = None) -> dict[str, float]:
    """tests/harness/scaling.py's figure: slot-seconds not spent in the trainable, per trial.

    ``slots * wall_s / trials - trial_compute_s``, with one slot per CPU the cluster advertises
    (the smoke search asks one CPU per trial); ``slots`` None: the CPUs of this machine (a
    launched head advertises every CPU).
    """
    compute, trials = trial_compute_s(experiment_dir)
    slots = slots or os.cpu_count() or 1
    return {
        "wall_s": round(wall_s, 2),
        "trials": trials,
        "trial_compute_s": round(compute, 3),
        "overhead_s_per_trial": round(slots * wall_s / trials - compute, 3),
    }


def in_process_search(work: Path) -> float:
    """Seconds of the same smoke search run in-process (local Ray, sqlite MLflow)."""
    storage = work / "local-results"
    argv = [sys.executable, str(ROOT / "search" / "run.py"), "--smoke-test"]
    argv += ["--storage-path", str(storage), "--experiment", EXPERIMENT]
    argv += ["--tracking-uri", f"sqlite:///{work}/local-mlflow.db"]
    env = {**os.environ, "RAY_TMPDIR": str(work), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    env.pop("RAY_ADDRESS", None)
    start = time.monotonic()
    subprocess.run(argv, cwd=work, env=env, check=True, capture_output=True, timeout=STEP_TIMEOUT_S)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--compare-local", action="store_true", help="also time the in-process search")
    args = p.parse_args(argv)
    venv = Path(sys.prefix)
    with launched(venv) as launch:
        outcome = run_cluster(launch)
        trials = len(outcome.trial_ids)
        for step, value in outcome.seconds.items():
            print(json.dumps({"step": step, "seconds": round(value, 2)}), flush=True)
        addresses = sorted({a.rsplit(":", 1)[0] for s in outcome.listeners.values() for a in s})
        print(json.dumps({"listener_ips": addresses, "trials": trials, "runs": len(outcome.runs)}))
        cluster = overhead(outcome.seconds["search"], experiment_dir(launch))
        print(json.dumps({"search": "launched cluster (ray exec, --address auto)", **cluster}))
        if args.compare_local:
            wall = in_process_search(launch.work)
            local = overhead(wall, launch.work / "local-results" / EXPERIMENT)
            print(json.dumps({"search": "in-process (python search/run.py)", **local}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
