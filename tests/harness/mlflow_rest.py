#!/usr/bin/env python3
"""The head's MLflow server over its REST API, seen at http://127.0.0.1:5000 (standard library).

On the one-node cluster that is the head's own loopback (the same as this machine's); on the
two-host cluster, the client's end of the README's SSH port forward (``ray attach CONFIG -p
5000``), so the reads run in the client's network namespace as a command line:

    python tests/harness/mlflow_rest.py wait 300              # seconds until /health answers
    python tests/harness/mlflow_rest.py runs EXPERIMENT       # every run of EXPERIMENT
    python tests/harness/mlflow_rest.py history RUN_ID KEY    # a metric's history

each printing one JSON value.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["MLFLOW_URL", "metric_history", "mlflow_runs", "wait_for_mlflow"]

MLFLOW_URL = "http://127.0.0.1:5000"


def wait_for_mlflow(timeout: float) -> float:
    """Seconds until the MLflow server answers /health (it starts in the background)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{MLFLOW_URL}/health", timeout=5) as r:
                if r.status == 200:
                    return time.monotonic() - start
        time.sleep(0.5)
    raise RuntimeError(f"the head's MLflow server did not answer within {timeout:.0f} s")


def _get(path: str, **query: str) -> Any:
    url = f"{MLFLOW_URL}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def mlflow_runs(experiment: str) -> list[dict[str, Any]]:
    """Every run of ``experiment``."""
    experiment_id = _get("experiments/get-by-name", experiment_name=experiment)["experiment"][
        "experiment_id"
    ]
    body = json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}).encode()
    request = urllib.request.Request(
        f"{MLFLOW_URL}/api/2.0/mlflow/runs/search",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return list(json.load(r).get("runs", []))


def metric_history(run_id: str, key: str) -> list[dict[str, Any]]:
    """Every logged value of metric ``key`` of run ``run_id`` (value, step, timestamp)."""
    return list(_get("metrics/get-history", run_id=run_id, metric_key=key).get("metrics", []))


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "wait":
        result: Any = wait_for_mlflow(float(args[0]))
    elif command == "runs":
        result = mlflow_runs(args[0])
    elif command == "history":
        result = metric_history(args[0], args[1])
    else:
        raise SystemExit(f"unknown command {command!r}: wait, runs or history")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
