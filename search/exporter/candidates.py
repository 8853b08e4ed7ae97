"""The trials of a finished search, found again for the export, and the best one chosen.

Where they come from: the Ray experiment ``STORAGE/EXPERIMENT`` (a local directory or a
URI such as ``s3://BUCKET/PREFIX/EXPERIMENT``, read through pyarrow as Ray does) first (every
report and every checkpoint is there, it needs no server, and it is what ``Tuner.restore``
trusts); if it does not exist, the MLflow experiment of the same name (its child runs'
metrics and ``status`` tags, the checkpoint from the ``checkpoint_path`` tag or the logged
artifact). The best trial is chosen by the one ranking and its filter,
``search.trial.ranking.best_key`` and ``exportable`` (an eligible status and a checkpoint).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.fs
from mlflow import MlflowClient
from ray.tune import ExperimentAnalysis
from ray.tune.experiment import Trial

from ntm.cli import UsageError
from ntm.errors import first_line, require
from search.cluster.storage import download, filesystem, is_remote_uri, storage_uri
from search.tracking.client import connect
from search.tracking.runs import child_runs, find_parent
from search.trial.experiment_files import read_confirmed
from search.trial.ranking import best_key, exportable
from search.trial.resume import own_checkpoints
from search.trial.status import ELIGIBLE, RUNNING, trial_status
from search.trial.trainable import CHECKPOINT_FILE

__all__ = ["Candidate", "fetch", "from_mlflow", "from_ray", "select"]


@dataclass(frozen=True)
class Candidate:
    """One trial: its final status, last report, newest checkpoint and all reports."""

    trial_id: str
    status: str
    result: dict[str, Any]
    checkpoint: str | None  # checkpoint.pt: a local path, or a URI until ``fetch``
    reports: list[dict[str, Any]] = field(default_factory=list)


def from_ray(experiment_path: str) -> list[Candidate]:
    """Trials of a Ray experiment: an absolute local path or a URI (``s3://B/P/EXPERIMENT``).

    A checkpoint is located, not read: on remote storage ``fetch`` downloads the chosen one.
    """
    try:
        analysis = ExperimentAnalysis(experiment_path)
    except Exception as exc:  # no or unreadable experiment_state-*.json
        raise UsageError(
            f"cannot read Ray experiment {experiment_path}: {first_line(exc)}"
        ) from None
    fs, root = filesystem(experiment_path)
    out = []
    confirmed = read_confirmed(experiment_path)  # --confirm-top's results, the ranking's input
    for trial in analysis.trials:
        result = {**(trial.last_result or {}), **confirmed.get(str(trial.trial_id), {})}
        status = trial_status(result or None, errored=trial.status == Trial.ERROR)
        trial_dir = f"{root}/{PurePosixPath(str(trial.path)).name}"
        out.append(
            Candidate(str(trial.trial_id), status, result, _newest(fs, trial_dir),
                      _reports(fs, trial_dir))
        )  # fmt: skip
    return out


def _newest(fs: pyarrow.fs.FileSystem, trial_dir: str) -> str | None:
    """The newest ``checkpoint_NNNNNN/checkpoint.pt`` of a trial, as a location."""
    found = own_checkpoints(fs, trial_dir)
    return storage_uri(fs, f"{found[-1][1]}/{CHECKPOINT_FILE}") if found else None


def _reports(fs: pyarrow.fs.FileSystem, trial_dir: str) -> list[dict[str, Any]]:
    path = f"{trial_dir}/result.json"
    if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
        return []
    with fs.open_input_stream(path) as stream:
        text = stream.read().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def fetch(best: Candidate, scratch: Path) -> Candidate:
    """``best`` with its checkpoint on this machine: downloaded from remote storage."""
    if best.checkpoint is None or not is_remote_uri(best.checkpoint):
        return best
    directory = best.checkpoint.rsplit("/", 1)[0]
    try:
        local = download(directory, scratch / best.trial_id)
    except OSError as exc:
        raise UsageError(f"cannot download checkpoint {directory}: {first_line(exc)}") from None
    return replace(best, checkpoint=str(local / CHECKPOINT_FILE))


def from_mlflow(tracking_uri: str, experiment: str, scratch: Path) -> list[Candidate] | None:
    """Trials of the newest search in the MLflow experiment; None if there is none."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).is_file():
        return None  # no store there: do not create one just to look
    client = connect(tracking_uri)
    parent = find_parent(client, experiment, finished=True)
    if parent is None:
        return None
    out = []
    for run in child_runs(client, parent):
        tags, metrics = run.data.tags, dict(run.data.metrics)
        out.append(
            Candidate(tags.get("trial_id", run.info.run_id), tags.get("status", RUNNING),
                      metrics, _mlflow_checkpoint(client, run, scratch), [metrics])
        )  # fmt: skip
    return out


def _mlflow_checkpoint(client: MlflowClient, run: Any, scratch: Path) -> str | None:
    path = run.data.tags.get("checkpoint_path")
    if path and is_remote_uri(path):
        return f"{path}/{CHECKPOINT_FILE}"
    if path and (Path(path) / CHECKPOINT_FILE).is_file():
        return str(Path(path) / CHECKPOINT_FILE)
    if run.data.tags.get("status") not in ELIGIBLE:
        return None
    try:
        local = client.download_artifacts(run.info.run_id, "checkpoint", str(scratch))
    except Exception:  # no checkpoint artifact (not among the top trials)
        return None
    found = Path(local) / CHECKPOINT_FILE
    return str(found) if found.is_file() else None


def select(candidates: list[Candidate], *, metric: str | None, mode: str) -> Candidate:
    """The best eligible trial; UsageError naming the statuses when there is none."""
    eligible = [c for c in candidates if exportable(c.status, c.checkpoint)]
    if not eligible:
        counts: dict[str, int] = {}
        for c in candidates:
            counts[c.status] = counts.get(c.status, 0) + 1
        seen = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"
        raise UsageError(f"no finished trial with a checkpoint to export ({seen}).")
    require(
        metric is None or any(metric in c.result for c in eligible),
        f"--metric {metric!r} was not reported by any finished trial.",
        error=UsageError,
    )
    return min(
        eligible,
        key=lambda c: best_key(
            c.trial_id, c.status, c.result, checkpoint=c.checkpoint, metric=metric, mode=mode
        ),
    )
