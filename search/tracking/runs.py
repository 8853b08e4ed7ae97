"""The MLflow runs of a search and their identity: one parent run per search (tag
``ntm.role=search``), one child per trial (tag ``trial_id``, under ``mlflow.parentRunId``),
what a Tune report becomes (metrics and tags), and the lookups that find them again.

Identity rules, so that a resumed search or a trial restored after a node failure continues
the SAME runs: the parent's id is part of the callback's Tune state (restored by
``Tuner.restore``); without that state the newest parent whose search has not finished (no
``ntm.search_finished`` tag) is reused, else a new parent is created. A child is found by
its ``trial_id`` tag under the parent. Metrics use step = ``training_iteration``; a report
whose step is not above the last logged one is skipped, so replayed reports neither
duplicate nor lose steps; except after a PBT/PB2 exploit (a new ``exploited_from`` /
``exploited_at_step`` pair, also tags): the trial then continues from the copied checkpoint's
step, and its reports from that step on are logged, beside the ones it made before.
Non-finite values are not logged (the NaN tags say why).
Run status: completed -> FINISHED, stopped_asha, stopped_budget and interrupted -> KILLED
(the last two with a ``stop_reason`` tag), pruned_nan and error -> FAILED; the ``status``
tag holds the exact outcome (``search.trial.status``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Param, RunTag

from search.trial.status import (
    COMPLETED,
    ERROR,
    INTERRUPTED,
    PRUNED_NAN,
    RUNNING,
    STOPPED_ASHA,
    STOPPED_BUDGET,
)

ROLE_TAG = "ntm.role"
FINISHED_TAG = "ntm.search_finished"
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
    "lr",
    "step",
    "time_total_s",
    "training_iteration",
)
RUN_STATUS = {
    COMPLETED: "FINISHED",
    STOPPED_ASHA: "KILLED",
    STOPPED_BUDGET: "KILLED",
    INTERRUPTED: "KILLED",
    PRUNED_NAN: "FAILED",
    ERROR: "FAILED",
}
STOP_REASON_TAG = "stop_reason"  # why a KILLED run was cut by the search's end
STOP_REASONS = {
    STOPPED_BUDGET: "the search's time budget ran out",
    INTERRUPTED: "the search was interrupted (Ctrl-C or SIGTERM); --resume continues it",
}
_RESULT_TAGS = (
    "nan_step",
    "nan_level",
    "nan_parameters",
    "engine",
    "exploited_from",
    "exploited_at_step",
)
EXPLOIT_TAGS = ("exploited_from", "exploited_at_step")
_SENTINEL_METRICS = ("objective", "eval_bit_errors")  # of a pruned_nan report

__all__ = [
    "EXPLOIT_TAGS",
    "FINISHED_TAG",
    "METRIC_KEYS",
    "ROLE_TAG",
    "RUN_STATUS",
    "STOP_REASONS",
    "STOP_REASON_TAG",
    "child_runs",
    "close_lost_runs",
    "create_parent_run",
    "create_trial_run",
    "end_tags",
    "find_parent",
    "result_metrics",
    "result_tags",
    "set_tags",
]


def result_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric metrics of one Tune report that are logged to MLflow (a pruned_nan
    report's objective and evaluation bit errors are sentinels, not scores: left out)."""
    sentinels = _SENTINEL_METRICS if result.get("status") == PRUNED_NAN else ()
    out = {}
    for key in (k for k in METRIC_KEYS if k not in sentinels):
        value = result.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                out[key] = float(value)
    return out


def result_tags(result: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags from a report: where a diverged trial's NaN appeared (``nan_step``, ``nan_level``,
    ``nan_parameters``), the trainer's ``engine`` when it reports one, and the trial a PBT
    exploit copied and at which step (``exploited_from``, ``exploited_at_step``)."""
    return {k: str(result[k]) for k in _RESULT_TAGS if result and result.get(k) is not None}


def create_parent_run(
    client: MlflowClient, experiment_id: str, experiment: str, params: Mapping[str, str]
) -> str:
    """A new parent run of ``experiment`` (tag ``ntm.role=search``) with the search's params
    (and the git commit as MLflow's source tag, when known); its run id."""
    run = client.create_run(
        experiment_id,
        run_name=f"search-{experiment}",
        tags={ROLE_TAG: "search", "ntm.experiment": experiment},
    )
    run_id = str(run.info.run_id)
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], synchronous=True)
    if "git_commit" in params:
        client.set_tag(run_id, "mlflow.source.git.commit", params["git_commit"])
    return run_id


def create_trial_run(
    client: MlflowClient,
    experiment_id: str,
    parent: str,
    trial_id: str,
    run_name: str,
    params: Mapping[str, str],
) -> str:
    """A new child run of one trial under ``parent`` (tags ``trial_id``, ``status=running``)
    with the trial's config as params; its run id."""
    tags = {"mlflow.parentRunId": parent, ROLE_TAG: "trial", "trial_id": trial_id}
    run = client.create_run(experiment_id, run_name=run_name, tags={**tags, "status": RUNNING})
    run_id = str(run.info.run_id)
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], synchronous=True)
    return run_id


def end_tags(status: str, last_result: Mapping[str, Any] | None) -> dict[str, str]:
    """The tags of a trial's end: its final ``status``, the report tags of its last result,
    and why the search's end cut it (``stop_reason``), when it did."""
    tags = {"status": status, **result_tags(last_result)}
    if status in STOP_REASONS:
        tags[STOP_REASON_TAG] = STOP_REASONS[status]
    return tags


def set_tags(client: MlflowClient, run_id: str, tags: Mapping[str, str]) -> None:
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()], synchronous=True)


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
            tags = {"ntm.lost": "true", "status": STOPPED_ASHA}
            set_tags(client, run.info.run_id, tags)
            client.set_terminated(run.info.run_id, status=RUN_STATUS[STOPPED_ASHA])
            run.data.tags.update(tags)
