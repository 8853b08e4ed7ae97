"""The end of a search in MLflow: the confirmed results of ``--confirm-top`` are logged on
their trials' runs, the results table, the search plots (from the runs and from the Optuna
study) and the top trials' artifacts are logged to the parent run, the best trial
(``search.trial.ranking``) is tagged, and the parent is closed.

Works with a fresh callback too (``Tuner.restore`` runs the pickled one): the parent is then
found again by experiment name and tag, the trials by their child runs.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from mlflow import MlflowClient

from ntm.errors import first_line
from search.cluster.storage import download, is_remote_uri
from search.tracking.callback import MlflowTrackingCallback
from search.tracking.plots import plot_checkpoint, plot_search, plot_study
from search.tracking.runs import FINISHED_TAG, child_runs, close_lost_runs, find_parent
from search.trial.experiment_files import RESULTS_CSV
from search.trial.ranking import best_key, exportable
from search.trial.status import RUNNING
from search.trial.trainable import CHECKPOINT_FILE

TOP_K_ARTIFACTS = 3  # finished trials that get plots and their checkpoint as artifacts

__all__ = [
    "TOP_K_ARTIFACTS",
    "finish_search",
    "log_confirmed",
    "log_trial_artifacts",
    "ranked_runs",
]


def _exportable(run: Any) -> bool:
    return exportable(run.data.tags.get("status", RUNNING), run.data.tags.get("checkpoint_path"))


def _best_key(run: Any) -> tuple[Any, ...]:
    tags = run.data.tags
    return best_key(
        tags.get("trial_id", ""),
        tags.get("status", RUNNING),
        run.data.metrics,
        checkpoint=tags.get("checkpoint_path"),
    )


def ranked_runs(runs: Iterable[Any]) -> list[Any]:
    """The MLflow trial runs that can be exported (an eligible status and a
    ``checkpoint_path``), best first (``search.trial.ranking.best_key``)."""
    return sorted(filter(_exportable, runs), key=_best_key)


def log_confirmed(
    client: MlflowClient, runs: Iterable[Any], confirmed: Mapping[str, Mapping[str, Any]]
) -> None:
    """The confirmed metrics on each confirmed trial's MLflow run (so its best tag agrees)."""
    for run in runs:
        values = confirmed.get(run.data.tags.get("trial_id", ""))
        if values is None:
            continue
        for key in ("confirm_mean_objective", "confirm_worst_objective"):
            client.log_metric(run.info.run_id, key, values[key])
        client.set_tag(run.info.run_id, "confirm_seeds", values["confirm_seeds"])


def log_trial_artifacts(client: MlflowClient, run: Any, tmp: Path) -> None:
    """Plots (learning curve, output vs target, weightings, memory) and the final checkpoint.

    The checkpoint is read where the trial wrote it: a local directory, or downloaded from
    remote storage (``s3://...``). One that cannot be read from here is said on one line.
    """
    location = run.data.tags.get("checkpoint_path")
    trial = run.data.tags.get("trial_id", run.info.run_id)
    if not location:
        print(f"MLflow: trial {trial} has no checkpoint; no plots or checkpoint logged",
              file=sys.stderr)  # fmt: skip
        return
    try:
        path = location if not is_remote_uri(location) else str(download(location, tmp / "ckpt"))
        if not (Path(path) / CHECKPOINT_FILE).is_file():
            raise OSError(f"no {CHECKPOINT_FILE} there (a disk of another node?)")
    except OSError as exc:
        reason = first_line(exc)
        print(f"MLflow: checkpoint {location} of trial {trial} cannot be read from here: "
              f"{reason}; its plots and checkpoint are not logged", file=sys.stderr)  # fmt: skip
        return
    run_id = run.info.run_id
    for plot in plot_checkpoint(Path(path) / CHECKPOINT_FILE, tmp):
        client.log_artifact(run_id, str(plot), artifact_path="plots")
    client.log_artifacts(run_id, path, artifact_path="checkpoint")


def _step(what: str, action: Callable[[], Any]) -> Any:
    """One step of the end of a search: a failure is said on one line and the rest goes on."""
    try:
        return action()
    except Exception as exc:
        print(f"MLflow: {what} failed ({first_line(exc)}); the rest of the search's end goes on",
              file=sys.stderr, flush=True)  # fmt: skip
        return None


def finish_search(
    callback: MlflowTrackingCallback,
    table: pd.DataFrame,
    experiment_dir: str,
    *,
    study: optuna.Study | None = None,
    confirmed: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Log the results table, the search plots and the top trials' artifacts; end the parent.

    Each step that fails (a plot, an artifact upload) is said on one line and skipped; the
    parent run is tagged finished and closed FINISHED whatever happened before.
    """
    client = callback.client
    parent = (
        callback.parent_run_id
        or find_parent(client, callback.experiment, finished=True)
        or callback.ensure_parent()
    )
    try:
        children = child_runs(client, parent)
        if confirmed:  # --confirm-top: the ranking input of the confirmed trials
            _step(
                "logging the confirmed results", lambda: log_confirmed(client, children, confirmed)
            )
            children = child_runs(client, parent)
        close_lost_runs(client, children)
        ranked = ranked_runs(children)
        with tempfile.TemporaryDirectory(prefix="ntm-search-") as tmp:
            _log_artifacts(client, parent, table, children, ranked, study, Path(tmp))
        if ranked:
            client.set_tag(parent, "best_trial_id", ranked[0].data.tags.get("trial_id", ""))
            # best_objective: the best trial's last objective, what its final checkpoint scores
            # (not the lowest it reported: results.csv's lowest_objective)
            last_objective = ranked[0].data.metrics.get("objective")
            if last_objective is not None:
                client.log_metric(parent, "best_objective", last_objective)
    finally:
        client.set_tag(parent, "experiment_dir", experiment_dir)
        client.set_tag(parent, FINISHED_TAG, "true")
        client.set_terminated(parent, status="FINISHED")


def _log_artifacts(
    client: MlflowClient,
    parent: str,
    table: pd.DataFrame,
    children: list[Any],
    ranked: list[Any],
    study: optuna.Study | None,
    out: Path,
) -> None:
    """The results table and the search plots on the parent, the top trials' artifacts."""
    table.to_csv(out / RESULTS_CSV, index=False)
    _step("logging results.csv", lambda: client.log_artifact(parent, str(out / RESULTS_CSV)))
    plots = _step(
        "the search plots", lambda: [*plot_search(children, out), *plot_study(study, out)]
    )
    for path in plots or []:
        _step(
            f"logging {path.name}",
            functools.partial(client.log_artifact, parent, str(path), "plots"),
        )
    for run in ranked[:TOP_K_ARTIFACTS]:
        trial = run.data.tags.get("trial_id", "")
        where = out / str(run.info.run_id)
        _step(
            f"the artifacts of trial {trial}",
            functools.partial(log_trial_artifacts, client, run, where),
        )
