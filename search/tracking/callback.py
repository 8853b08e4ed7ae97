"""The Tune callback that logs a search to MLflow as it runs: one parent run per search, one
nested child run per trial (identity rules: ``search.tracking.runs``).

    callback = make_tracking_callback("sqlite:///mlflow.db", "copy-asha", search_params)
    tuner = tune.Tuner(trainable, run_config=tune.RunConfig(name="copy-asha", callbacks=[callback]))

Ray's own ``MLflowLoggerCallback`` is not used: it makes flat runs and marks diverged trials
FINISHED. A hook that fails logs a warning: losing a metric must not kill a search.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mlflow import MlflowClient
from mlflow.entities import Metric
from ray.tune import Callback
from ray.tune.experiment import Trial

from search.cluster.storage import storage_uri
from search.tracking.client import connect, environment_params, flatten_params
from search.tracking.runs import (
    EXPLOIT_TAGS,
    RUN_STATUS,
    create_parent_run,
    create_trial_run,
    end_tags,
    find_parent,
    result_metrics,
    result_tags,
    set_tags,
)
from search.trial.endings import TrialEndings
from search.trial.status import RUNNING, trial_status

__all__ = ["MlflowTrackingCallback", "make_tracking_callback"]

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

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        search_params: Mapping[str, Any],
        *,
        endings: TrialEndings | None = None,
    ):
        self.tracking_uri = tracking_uri
        self.endings = endings  # which trials the search's end cut (placed before this one)
        self.experiment = experiment
        self.search_params = dict(search_params)
        self.parent_run_id: str | None = None
        self._runs: dict[str, str] = {}  # trial id -> MLflow run id
        self._last_step: dict[str, int] = {}  # trial id -> last logged training_iteration
        self._tags: dict[str, dict[str, str]] = {}  # trial id -> report tags logged so far
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
        params = {**flatten_params(self.search_params), **environment_params()}
        self.parent_run_id = create_parent_run(
            self.client, self.experiment_id(), self.experiment, params
        )
        return self.parent_run_id

    def setup(
        self, stop: Any = None, num_samples: Any = None, total_num_samples: Any = None, **info: Any
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
            tags = found[0].data.tags
            self._tags[tid] = {k: tags[k] for k in EXPLOIT_TAGS if k in tags}  # exploits seen
            self.client.update_run(run_id, status="RUNNING")
            self.client.set_tag(run_id, "status", RUNNING)
        else:
            params = flatten_params(trial.config)
            run_id = create_trial_run(
                self.client, self.experiment_id(), parent, tid, str(trial), params
            )
            self._last_step[tid] = 0
        self._runs[tid] = run_id
        return run_id

    @_never_fails
    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.run_for(trial)

    on_trial_restore = on_trial_start  # a trial restored continues its run

    @_never_fails
    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict, **info: Any
    ) -> None:
        run_id = self.run_for(trial)
        tid = str(trial.trial_id)
        logged = self._tags.setdefault(tid, {})
        exploit = {k: v for k, v in result_tags(result).items() if k in EXPLOIT_TAGS}
        if exploit and any(logged.get(k) != v for k, v in exploit.items()):
            # a new PBT exploit: the trial continues from the copied checkpoint's step
            at = int(exploit["exploited_at_step"])
            self._last_step[tid] = min(self._last_step[tid], at)
        step = int(result.get("training_iteration", 0))
        if step <= self._last_step[tid]:
            return  # replayed after a restore: this step is already in MLflow
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in result_metrics(result).items()]
        self.client.log_batch(run_id, metrics=metrics, synchronous=True)
        self._last_step[tid] = step
        tags = {k: v for k, v in result_tags(result).items() if logged.get(k) != v}
        if tags:
            set_tags(self.client, run_id, tags)
            logged.update(tags)

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
        """Close the runs of trials that ended without a complete/error event: cut by the
        search's time budget or by an interrupt (``search.trial.endings``)."""
        for trial in trials:
            tid = str(trial.trial_id)
            if tid in self._runs and self.client.get_run(self._runs[tid]).info.status == "RUNNING":
                cut = self.endings.cut_status(tid) if self.endings is not None else None
                self._end(trial, errored=trial.status == Trial.ERROR, cut=cut)

    def _end(self, trial: Trial, *, errored: bool, cut: str | None = None) -> None:
        run_id = self.run_for(trial)
        status = trial_status(trial.last_result or None, errored=errored, cut=cut)
        tags = end_tags(status, trial.last_result)
        if trial.checkpoint is not None:  # a URI on remote storage (s3://...), else a path
            tags["checkpoint_path"] = storage_uri(
                trial.checkpoint.filesystem, trial.checkpoint.path
            )
        if trial.path:
            tags["trial_path"] = str(trial.path)
        if errored and trial.error_file:
            tags["error_file"] = str(trial.error_file)
        set_tags(self.client, run_id, tags)
        self.client.set_terminated(run_id, status=RUN_STATUS.get(status, "FINISHED"))


def make_tracking_callback(
    tracking_uri: str,
    experiment: str,
    search_params: Mapping[str, Any],
    *,
    endings: TrialEndings | None = None,
) -> MlflowTrackingCallback:
    """The callback for ``tune.RunConfig(callbacks=[endings, callback])``; checks the URI
    right away.

    Raises UsageError (one line) when the tracking store cannot be reached.
    """
    callback = MlflowTrackingCallback(tracking_uri, experiment, search_params, endings=endings)
    callback.experiment_id()  # fail fast, before Ray starts any trial
    return callback
