"""MLflow tracking of a search: one parent run per search, one nested child run per trial.

    callback = make_tracking_callback("sqlite:///mlflow.db", "copy-asha", search_params)
    tuner = tune.Tuner(trainable, run_config=tune.RunConfig(name="copy-asha", callbacks=[callback]))
    results = tuner.fit()
    finish_search(callback, table, experiment_dir)

The MLflow experiment is named like the search experiment. Identity rules, so that a resumed
search or a trial restored after a node failure continues the SAME runs:

- parent: tag ``ntm.role=search``. Its id is part of the callback's Tune state (restored by
  ``Tuner.restore``); without that state the newest parent whose search has not finished
  (no ``ntm.search_finished`` tag) is reused, else a new parent is created.
- child: tag ``trial_id`` (the Ray trial id) under the parent (``mlflow.parentRunId``).
- metrics: step = ``training_iteration``; a report whose step is not above the last logged
  step (the history of the ``training_iteration`` metric) is skipped, so replayed reports
  neither duplicate nor lose steps. Non-finite values are not logged (the NaN tags say why).

Ray's own ``MLflowLoggerCallback`` is not used: it makes flat runs and marks diverged trials
FINISHED. Run status: completed -> FINISHED, stopped_asha -> KILLED, pruned_nan and error ->
FAILED; the ``status`` tag holds the exact outcome (``search.status.trial_status``).
"""

from __future__ import annotations

import functools
import logging
import math
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ray.tune import Callback

from ntm.cli import UsageError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from ray.tune.experiment import Trial

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


_log = logging.getLogger(__name__)
_Hook = TypeVar("_Hook", bound=Callable[..., None])


def _never_fails(hook: _Hook) -> _Hook:
    """A tracking hook that fails logs a warning: losing a metric must not kill a search."""

    @functools.wraps(hook)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            hook(*args, **kwargs)
        except Exception as exc:  # server blip, store error
            _log.warning("MLflow tracking: %s failed: %s", hook.__name__, exc)

    return wrapper  # type: ignore[return-value]


class MlflowTrackingCallback(Callback):
    """Tune callback logging a search to MLflow as a parent run with one child per trial."""

    def __init__(self, tracking_uri: str, experiment: str, search_params: Mapping[str, Any]):
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.search_params = dict(search_params)
        self.parent_run_id: str | None = None
        self._runs: dict[str, str] = {}  # trial id -> MLflow run id
        self._last_step: dict[str, int] = {}  # trial id -> last logged training_iteration
        self._experiment_id: str | None = None
        self._client: MlflowClient | None = None

    # -- pickling and Tune state (Tuner.restore brings back the parent) ------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        return state

    def get_state(self) -> dict[str, Any] | None:
        return {"parent_run_id": self.parent_run_id, "runs": dict(self._runs)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.parent_run_id = state.get("parent_run_id")
        self._runs = dict(state.get("runs") or {})
        self._last_step = {}  # re-read from MLflow: the saved state may lag behind it

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = connect(self.tracking_uri)
        return self._client

    # -- the parent ---------------------------------------------------------------------------
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            exp = self.client.get_experiment_by_name(self.experiment)
            if exp is not None:
                self._experiment_id = str(exp.experiment_id)
            else:
                self._experiment_id = str(self.client.create_experiment(self.experiment))
        return self._experiment_id

    def ensure_parent(self) -> str:
        """Reuse the restored or unfinished parent run of this search, or create one."""
        if self.parent_run_id is not None:
            return self.parent_run_id
        found = find_parent(self.client, self.experiment)
        if found is not None:
            self.parent_run_id = found
            self.client.update_run(found, status="RUNNING")
            return found
        from mlflow.entities import Param

        run = self.client.create_run(
            self.experiment_id(),
            run_name=f"search-{self.experiment}",
            tags={ROLE_TAG: "search", "ntm.experiment": self.experiment},
        )
        params = {**flatten_params(self.search_params), **environment_params()}
        self.client.log_batch(
            run.info.run_id, params=[Param(k, v) for k, v in params.items()], synchronous=True
        )
        if "git_commit" in params:
            self.client.set_tag(run.info.run_id, "mlflow.source.git.commit", params["git_commit"])
        self.parent_run_id = str(run.info.run_id)
        return self.parent_run_id

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        self.ensure_parent()

    # -- the children -------------------------------------------------------------------------
    def run_for(self, trial: Trial) -> str:
        """The MLflow run of ``trial``: cached, found by its ``trial_id`` tag, or created."""
        tid = str(trial.trial_id)
        if tid in self._runs and tid in self._last_step:
            return self._runs[tid]
        parent = self.ensure_parent()
        found = self.client.search_runs(
            [self.experiment_id()],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent}' and tags.trial_id = '{tid}'",
        )
        if found:
            run_id = str(found[0].info.run_id)
            history = self.client.get_metric_history(run_id, "training_iteration")
            self._last_step[tid] = max((int(m.step) for m in history), default=0)
            self.client.update_run(run_id, status="RUNNING")
            self.client.set_tag(run_id, "status", "running")
        else:
            run_id = self._create_child(trial, parent)
            self._last_step[tid] = 0
        self._runs[tid] = run_id
        return run_id

    def _create_child(self, trial: Trial, parent: str) -> str:
        from mlflow.entities import Param

        tags = {
            "mlflow.parentRunId": parent,
            ROLE_TAG: "trial",
            "trial_id": str(trial.trial_id),
            "status": "running",
        }
        run = self.client.create_run(self.experiment_id(), run_name=str(trial), tags=tags)
        params = [Param(k, v) for k, v in flatten_params(trial.config).items()]
        self.client.log_batch(run.info.run_id, params=params, synchronous=True)
        return str(run.info.run_id)

    @_never_fails
    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.run_for(trial)

    @_never_fails
    def on_trial_restore(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.run_for(trial)

    @_never_fails
    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info: Any
    ) -> None:
        from mlflow.entities import Metric

        run_id = self.run_for(trial)
        step = int(result.get("training_iteration", 0))
        if step <= self._last_step[str(trial.trial_id)]:
            return  # replayed after a restore: this step is already in MLflow
        now = int(time.time() * 1000)
        values = result_metrics(result)
        if result.get("status") == "pruned_nan":  # its objective is a sentinel, not a score
            values = {k: v for k, v in values.items() if k not in ("objective", "eval_bit_errors")}
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        self.client.log_batch(run_id, metrics=metrics, synchronous=True)
        self._last_step[str(trial.trial_id)] = step
        if result.get("nan_step") is not None:
            self._set_tags(run_id, nan_tags(result))

    @_never_fails
    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._end(trial, errored=False)

    @_never_fails
    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self._end(trial, errored=True)

    @_never_fails
    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        """Close the runs of trials that ended without a complete/error event (budget, Ctrl-C)."""
        for trial in trials:
            tid = str(trial.trial_id)
            if tid in self._runs and self.client.get_run(self._runs[tid]).info.status == "RUNNING":
                self._end(trial, errored=trial.status == "ERROR")

    def _end(self, trial: Trial, *, errored: bool) -> None:
        from search.status import trial_status

        run_id = self.run_for(trial)
        status = trial_status(trial.last_result or None, errored=errored)
        tags = {"status": status, **nan_tags(trial.last_result)}
        checkpoint = trial.checkpoint
        if checkpoint is not None:
            tags["checkpoint_path"] = str(checkpoint.path)
        if trial.path:
            tags["trial_path"] = str(trial.path)
        if errored and trial.error_file:
            tags["error_file"] = str(trial.error_file)
        self._set_tags(run_id, tags)
        self.client.set_terminated(run_id, status=RUN_STATUS.get(status, "FINISHED"))

    def _set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(
            run_id, tags=[RunTag(k, v) for k, v in tags.items()], synchronous=True
        )


def make_tracking_callback(
    tracking_uri: str, experiment: str, search_params: Mapping[str, Any]
) -> MlflowTrackingCallback:
    """The callback for ``tune.RunConfig(callbacks=[...])``; checks the URI right away.

    Raises UsageError (one line) when the tracking store cannot be reached.
    """
    callback = MlflowTrackingCallback(tracking_uri, experiment, search_params)
    callback.experiment_id()  # fail fast, before Ray starts any trial
    return callback


def finish_search(
    callback: MlflowTrackingCallback, table: pd.DataFrame, experiment_dir: Path
) -> None:
    """Log the results table, the search plots and the top trials' artifacts; end the parent.

    Works with a fresh callback too (``Tuner.restore`` runs the pickled one): the parent is
    then found again by experiment name and tag, the trials by their child runs.
    """
    from search import artifacts

    client = callback.client
    parent = (
        callback.parent_run_id
        or find_parent(client, callback.experiment, finished=True)
        or callback.ensure_parent()
    )
    children = child_runs(client, parent)
    close_lost_runs(client, children)
    with tempfile.TemporaryDirectory(prefix="ntm-search-") as tmp:
        out = Path(tmp)
        table.to_csv(out / "results.csv", index=False)
        client.log_artifact(parent, str(out / "results.csv"))
        for path in artifacts.plot_search(children, out):
            client.log_artifact(parent, str(path), artifact_path="plots")
        for run in artifacts.top_runs(children, TOP_K_ARTIFACTS):
            log_trial_artifacts(client, run, out / str(run.info.run_id))
    best = artifacts.top_runs(children, 1)
    if best:
        client.set_tag(parent, "best_trial_id", best[0].data.tags.get("trial_id", ""))
        objective = best[0].data.metrics.get("objective")
        if objective is not None:
            client.log_metric(parent, "best_objective", objective)
    client.set_tag(parent, "experiment_dir", str(experiment_dir))
    client.set_tag(parent, FINISHED_TAG, "true")
    client.set_terminated(parent, status="FINISHED")


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
