"""Shared pieces of the MLflow tests: a real smoke search (run once per session), a real
``mlflow server`` on 127.0.0.1, small readers of what they recorded, and the check that an
export reproduces the metric its search recorded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import ntm
from ntm.trainer import Trainer
from search.cluster.env import LOOPBACK_ENV

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "search" / "run.py"
EXPORT = ROOT / "search" / "export.py"
SEARCH_TIMEOUT_S = 240


@dataclass(frozen=True)
class Smoke:
    """A finished smoke search: its directories, names and the tracking URI it logged to."""

    root: Path
    storage: Path
    experiment: str
    tracking_uri: str
    stdout: str = ""  # what the search printed (its final table)

    @property
    def experiment_dir(self) -> Path:
        return self.storage / self.experiment


def search_env(root: Path) -> dict[str, str]:
    """Loopback-only local Ray with a private temp dir (never joins another Ray cluster)."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env[LOOPBACK_ENV] = "0"
    env["RAY_TMPDIR"] = str(root)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def short_tmp() -> Path:
    """A short private directory: Ray's socket paths under it must stay below 107 chars."""
    return Path(tempfile.mkdtemp(prefix="ntm", dir="/tmp"))


def run_search(
    storage: Path, experiment: str, uri: str, *extra: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(RUN), "--smoke-test", "--experiment", experiment]
    argv += ["--storage-path", str(storage), "--tracking-uri", uri, *extra]
    return subprocess.run(
        argv,
        cwd=cwd,
        env=search_env(cwd),
        capture_output=True,
        text=True,
        timeout=SEARCH_TIMEOUT_S,
    )


def start_search(
    storage: Path, experiment: str, uri: str, *extra: str, cwd: Path
) -> subprocess.Popen[str]:
    """The same search in the background, in its own process group (to kill it whole)."""
    argv = [sys.executable, str(RUN), "--smoke-test", "--experiment", experiment]
    argv += ["--storage-path", str(storage), "--tracking-uri", uri, *extra]
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=search_env(cwd),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the search and every process it started (Ray's own servers included)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rest_search_runs(url: str, experiment_name: str) -> list[dict[str, Any]]:
    """Every run of an experiment over the server's REST API (plain urllib)."""
    with urllib.request.urlopen(
        f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment_name}",
        timeout=10,
    ) as r:
        experiment_id = json.load(r)["experiment"]["experiment_id"]
    runs: list[dict[str, Any]] = []
    token = None
    while True:
        body: dict[str, Any] = {"experiment_ids": [experiment_id], "max_results": 1000}
        if token:
            body["page_token"] = token
        req = urllib.request.Request(
            f"{url}/api/2.0/mlflow/runs/search",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            page = json.load(r)
        runs += page.get("runs", [])
        token = page.get("next_page_token")
        if not token:
            return runs


def rest_metric_steps(url: str, run_id: str, key: str) -> list[int]:
    with urllib.request.urlopen(
        f"{url}/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key={key}", timeout=10
    ) as r:
        return sorted(int(m.get("step", 0)) for m in json.load(r).get("metrics", []))


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def ray_trial_ids(experiment_dir: Path) -> set[str]:
    """Trial ids Ray knows (run.py names each trial directory by its trial id)."""
    return {p.name for p in experiment_dir.iterdir() if (p / "params.json").is_file()}


def ray_reports(experiment_dir: Path, trial_id: str) -> list[dict[str, Any]]:
    lines = (experiment_dir / trial_id / "result.json").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def assert_reproduces(exported: Path, recorded: dict[str, Any]) -> None:
    """The exported model gives the search's recorded eval metric on the same seeded batch."""
    model, _, config = ntm.load(exported)
    trainer = Trainer(config)
    trainer.model.load_state_dict(model.state_dict())
    again = trainer.evaluate()
    assert again["bit_errors"] == pytest.approx(recorded["eval_bit_errors"], abs=1e-6)
    assert again["loss"] == pytest.approx(recorded["eval_loss"], rel=1e-5)
