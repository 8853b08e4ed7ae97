#!/usr/bin/env python3
"""`ray up` for real: cluster.local.yaml launched on this machine, a search run on it, `ray down`.

    python benchmarks/cluster_up.py                  # one JSON line per step (seconds), root only
    python benchmarks/cluster_up.py --compare-local  # also the same smoke search in-process

This machine becomes the head of a one-node cluster (``benchmarks/ssh_node.py``: sshd on
127.0.0.1:22 in its own PID and mount namespaces). The config handed to ``ray up`` is derived
from cluster.local.yaml by changing only values its ``CHANGE:`` comments mark (head IP, worker
IPs, SSH user and key, shared directory, cluster name; ``benchmarks/derive_config.py`` refuses
anything else) and passes ``python -m search.cluster_check``. Then, with the README's commands:
``ray up``; the smoke search through ``ray exec CONFIG "... python search/run.py --address
auto ..."``, tracked by the MLflow server that the head start commands launched; its runs read
back over REST; the best trial exported on the head and fetched with ``ray rsync-down``; MLflow
stopped; ``ray down``. Every listener of the node is sampled while it is up. Whatever happens,
every process of the node is killed by pid at the end (:func:`launched`).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.derive_config import derive_config, node_changes  # noqa: E402
from benchmarks.ssh_node import SSHNode, node_listeners, port_in_use, psutil, ssh_node  # noqa: E402
from search.cluster_check import check_config  # noqa: E402

LOCAL_CONFIG = ROOT / "cluster.local.yaml"
MLFLOW_URL = "http://127.0.0.1:5000"  # the head's MLflow server (same loopback as this machine)
RAY_PORTS = (6379, 8076, 8077, 5000)  # GCS, object and node manager, MLflow: fixed in the YAML
EXPERIMENT = "smoke-cluster"
VENV_LINK = "ntm-venv"  # the venv cluster.local.yaml's setup makes (test -x skips making it)
STEP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Launch:
    """A launched cluster: its derived config, the node, and where this run keeps its files."""

    config: Path
    node: SSHNode
    shared: str  # the shared directory, as the node sees it
    work: Path  # this machine's side: launcher temp dir, logs, fetched export
    env: dict[str, str]


def run_step(
    launch: Launch,
    name: str,
    argv: list[str],
    *,
    timeout: float = STEP_TIMEOUT_S,
    poll: Callable[[], None] | None = None,
) -> float:
    """Run one launcher command (own process group, killed whole on timeout); its seconds.

    ``poll`` is called about twice a second while the command runs (listener sampling).
    """
    log = launch.work / f"{name}.log"
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=launch.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while proc.poll() is None:
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise RuntimeError(
                    f"{name}: no result after {timeout:.0f} s: {log.read_text()[-1500:]}"
                )
            if poll is not None:
                poll()
            time.sleep(0.5)
        rc = proc.returncode
    if rc != 0:
        raise RuntimeError(f"{name} exited {rc}: {log.read_text()[-6000:]}")
    return time.monotonic() - start


def ray_cli(*args: str) -> list[str]:
    """The `ray` command of this interpreter's environment (the launcher's Ray)."""
    return [str(Path(sys.executable).parent / "ray"), *args]


def _forget_cluster(name: str) -> None:
    """Ray's launcher-side files for cluster ``name`` (its ssh masters end with the node)."""
    for suffix in ("state", "lock"):
        Path(f"/tmp/ray/cluster-{name}.{suffix}").unlink(missing_ok=True)
    user = hashlib.sha256(getpass.getuser().encode()).hexdigest()[:10]  # as Ray's SSH runner
    shutil.rmtree(f"/tmp/ray_ssh_{user}/{hashlib.sha256(name.encode()).hexdigest()[:10]}", True)


@contextlib.contextmanager
def launched(
    venv: Path, *, changes: Callable[[SSHNode, str], dict[str, str]] = node_changes
) -> Iterator[Launch]:
    """A fresh node and the config derived with ``changes`` (checked before any `ray` command);
    on exit the node killed by pid.

    Killing the node ends whatever `ray up` started on it (Ray, MLflow), even after a failure
    half-way; the launcher's own state for the cluster is removed too.
    """
    taken = [p for p in RAY_PORTS if port_in_use(p)]
    if taken:
        raise RuntimeError(f"port(s) {taken} on 127.0.0.1 are taken; the cluster needs them")
    work = Path(tempfile.mkdtemp(prefix="ntm-launcher-", dir="/tmp"))
    name = f"ntm-search-up-{os.getpid()}"
    env = {**os.environ, "HOME": str(work), "TMPDIR": str(work), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    try:
        with ssh_node(venv, venv_link=VENV_LINK) as node:
            config = work / "cluster.yaml"
            config.write_text(derive_config(LOCAL_CONFIG.read_text(), changes(node, name)))
            check_config(config)  # the derived config has no placeholder left
            yield Launch(config, node, str(node.node_home / "ntm-shared"), work, env)
    finally:
        _forget_cluster(name)
        shutil.rmtree(work, ignore_errors=True)


def on_head(launch: Launch, command: str) -> list[str]:
    """`ray exec CONFIG COMMAND`: a command in a login shell on the head."""
    return ray_cli("exec", str(launch.config), command)


def search_command(shared: str, experiment: str = EXPERIMENT) -> str:
    """The README's search on the head, as the smoke test (tracked by the head's MLflow)."""
    return (
        "cd ~/ntm-search && python search/run.py --address auto --smoke-test "
        f"--storage-path {shared}/ray-results --shared-storage --experiment {experiment}"
    )


def wait_for_mlflow(timeout: float = STEP_TIMEOUT_S) -> float:
    """Seconds until the head's MLflow server answers /health (it starts in the background)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{MLFLOW_URL}/health", timeout=5) as r:
                if r.status == 200:
                    return time.monotonic() - start
        time.sleep(0.5)
    raise RuntimeError(f"the head's MLflow server did not answer within {timeout:.0f} s")


def mlflow_runs(experiment: str) -> list[dict[str, Any]]:
    """Every run of ``experiment`` on the head's MLflow server, over its REST API."""
    with urllib.request.urlopen(
        f"{MLFLOW_URL}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}",
        timeout=10,
    ) as r:
        experiment_id = json.load(r)["experiment"]["experiment_id"]
    body = json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}).encode()
    request = urllib.request.Request(
        f"{MLFLOW_URL}/api/2.0/mlflow/runs/search",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return list(json.load(r).get("runs", []))


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
    seconds["mlflow_ready"] = wait_for_mlflow()
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


def overhead(wall_s: float, experiment_dir: Path) -> dict[str, float]:
    """benchmarks/scaling.py's figure: slot-seconds not spent in the trainable, per trial.

    ``slots * wall_s / trials - trial_compute_s``, with one slot per CPU of this machine (the
    smoke search asks one CPU per trial; the launched head advertises every CPU).
    """
    compute, trials = trial_compute_s(experiment_dir)
    slots = os.cpu_count() or 1
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
