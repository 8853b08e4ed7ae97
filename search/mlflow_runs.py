"""MLflow runs of a search, without Ray: the client, params and metrics as logged, and
the lookups of a search's parent run and its trial (child) runs.

Shared by the tracking callback (``search.tracking``) and the export (``search.export``);
the tagging rules are described in ``search.tracking``.
"""

from __future__ import annotations

import math
import subprocess
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ntm.cli import UsageError

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "FINISHED_TAG",
    "METRIC_KEYS",
    "ROLE_TAG",
    "RUN_STATUS",
    "TOP_K_ARTIFACTS",
    "child_runs",
    "close_lost_runs",
    "connect",
    "environment_params",
    "find_parent",
    "flatten_params",
    "git_commit",
    "log_trial_artifacts",
    "nan_tags",
    "result_metrics",
]

ROLE_TAG = "ntm.role"
FINISHED_TAG = "ntm.search_finished"
TOP_K_ARTIFACTS = 3  # completed trials that get plots and their checkpoint as artifacts
METRIC_KEYS = (
    "objective",
    "loss",
    "bit_errors",
    "eval_loss",
    "eval_bit_errors",
    "level",
    "max_level_reached",
    "sequences",
    "seq_per_sec",
    "grad_norm",
    "step",
    "time_total_s",
    "training_iteration",
)
RUN_STATUS = {
    "completed": "FINISHED",
    "stopped_asha": "KILLED",
    "pruned_nan": "FAILED",
    "error": "FAILED",
}
_MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
_HTTP_TIMEOUT_S = 5


def connect(tracking_uri: str) -> MlflowClient:
    """A client for ``tracking_uri``; an unreachable server fails within a few seconds.

    Raises UsageError (one line) when the server does not answer or the store cannot be opened.
    """
    if tracking_uri.startswith(("http://", "https://")):
        try:
            health = tracking_uri.rstrip("/") + "/health"
            with urllib.request.urlopen(health, timeout=_HTTP_TIMEOUT_S):
                pass
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(
                f"MLflow tracking URI {tracking_uri} is unreachable: {reason}"
            ) from None
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:  # bad scheme, unwritable sqlite file, server error
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot open MLflow tracking URI {tracking_uri}: {first}") from None
    return client


def flatten_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"task_params": {"max_length": 4}}`` -> ``{"task_params.max_length": "4"}``, sorted."""
    out: dict[str, str] = {}
    for key in sorted(values, key=str):
        value, name = values[key], f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten_params(value, f"{name}."))
        else:
            out[name] = _describe(value)[:_MAX_PARAM_CHARS]
    return out


def _describe(value: Any) -> str:
    """Stable text for a param: Ray search domains by their bounds, not their repr."""
    if hasattr(value, "categories"):
        return f"choice{list(value.categories)}"
    if hasattr(value, "lower") and hasattr(value, "upper"):
        sampler = type(getattr(value, "sampler", None)).__name__.lstrip("_").lower()
        return f"{type(value).__name__.lower()}({value.lower}, {value.upper}, {sampler})"
    return str(value)


def environment_params() -> dict[str, str]:
    """Versions of the libraries a search depends on, and the project's git commit."""
    import mlflow
    import optuna
    import ray
    import torch

    out = {
        "version.torch": torch.__version__,
        "version.ray": ray.__version__,
        "version.optuna": optuna.__version__,
        "version.mlflow": mlflow.__version__,
    }
    commit = git_commit()
    if commit is not None:
        out["git_commit"] = commit
    return out


def git_commit() -> str | None:
    """HEAD of the project checkout (``+dirty`` when it has local changes), or None."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


def result_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric metrics of one Tune report that are logged to MLflow."""
    out = {}
    for key in METRIC_KEYS:
        value = result.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                out[key] = float(value)
    return out


def nan_tags(result: Mapping[str, Any] | None) -> dict[str, str]:
    """``nan_step``, ``nan_level`` and ``nan_parameters`` of a diverged trial's last report."""
    keys = ("nan_step", "nan_level", "nan_parameters")
    return {k: str(result[k]) for k in keys if result and result.get(k) is not None}


def find_parent(client: MlflowClient, experiment: str, *, finished: bool = False) -> str | None:
    """The newest parent run of ``experiment`` (whose search has not finished, unless
    ``finished``), if any."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = 'search'",
        order_by=["attributes.start_time DESC"],
    )
    for run in runs:
        if finished or FINISHED_TAG not in run.data.tags:
            return str(run.info.run_id)
    return None


def child_runs(client: MlflowClient, parent_run_id: str) -> list[Any]:
    """All trial runs under a parent (every page)."""
    parent = client.get_run(parent_run_id)
    runs: list[Any] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def close_lost_runs(client: MlflowClient, children: list[Any]) -> None:
    """Close trial runs left RUNNING: their trial was interrupted (the driver was killed) and
    is unknown to the resumed search (it started after Ray's last experiment snapshot)."""
    for run in children:
        if run.info.status == "RUNNING":
            tags = {"ntm.lost": "true", "status": "stopped_asha"}
            client.log_batch(run.info.run_id, tags=[_tag(k, v) for k, v in tags.items()])
            client.set_terminated(run.info.run_id, status="KILLED")
            run.data.tags.update(tags)


def _tag(key: str, value: str) -> Any:
    from mlflow.entities import RunTag

    return RunTag(key, value)


def log_trial_artifacts(client: MlflowClient, run: Any, tmp: Path) -> None:
    """Plots (learning curve, output vs target, weightings, memory) and the final checkpoint."""
    from search import artifacts

    path = run.data.tags.get("checkpoint_path")
    if not path or not Path(path).exists():
        return  # the checkpoint lives on storage this machine cannot read
    run_id = run.info.run_id
    for plot in artifacts.plot_checkpoint(Path(path), tmp):
        client.log_artifact(run_id, str(plot), artifact_path="plots")
    client.log_artifacts(run_id, path, artifact_path="checkpoint")
