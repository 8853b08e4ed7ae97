"""Every search ends cleanly (search/launch/search.py): by its time budget while trials have
not reported yet, with a failing progress display and failing plots, and on SIGTERM, after
which --resume continues. Each end leaves the table and results.csv, the MLflow parent
FINISHED with every child in a final state, and no Optuna trial RUNNING; results.csv,
result.json on storage and MLflow agree trial by trial, and on the best trial with the export.
Real Ray, MLflow (sqlite), Optuna."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

import search.launch.reporter
import search.tracking.finish
from search.exporter.candidates import from_ray, select
from search.launch.results import best_trials
from search.run import EXIT_INTERRUPTED, main
from search.space.study import STATUS_ATTR
from search.tracking.runs import ROLE_TAG, STOP_REASON_TAG
from search.trial.status import FINAL_STATUSES, INTERRUPTED, STOPPED_BUDGET
from tests.search.mlflow_helpers import RUN, ray_reports, search_env, short_tmp

pytestmark = pytest.mark.slow


def _runs(uri: str, experiment: str) -> tuple[Any, list[Any]]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    parents = [r for r in runs if r.data.tags.get(ROLE_TAG) == "search"]
    assert len(parents) == 1, [r.data.tags for r in parents]
    return parents[0], [r for r in runs if r.data.tags.get(ROLE_TAG) == "trial"]


def assert_ended_cleanly(storage: Path, experiment: str, uri: str) -> pd.DataFrame:
    """The final states the issue asks for, and results.csv = result.json = MLflow."""
    exp_dir = storage / experiment
    table = pd.read_csv(exp_dir / "results.csv", dtype={"trial_id": str})
    parent, children = _runs(uri, experiment)
    # Rule: the parent run is FINISHED, every child is in a final state (none RUNNING)
    assert parent.info.status == "FINISHED"
    assert {c.info.status for c in children} <= {"FINISHED", "KILLED", "FAILED"}
    # Rule: every trial with an MLflow run has one row of results.csv, and no other row
    by_id = {c.data.tags["trial_id"]: c for c in children}
    assert set(by_id) == set(table["trial_id"]), (sorted(by_id), list(table["trial_id"]))
    for row in table.itertuples():
        child = by_id[row.trial_id]
        # Rule: one final status, the same in the table and in MLflow
        assert row.status in FINAL_STATUSES and child.data.tags["status"] == row.status
        if row.status in (STOPPED_BUDGET, INTERRUPTED):  # cut by the search's end
            assert child.info.status == "KILLED" and child.data.tags.get(STOP_REASON_TAG)
        if row.iterations > 0:  # Rule: its reports on storage and in MLflow are the table's
            reports = ray_reports(exp_dir, row.trial_id)
            assert reports[-1]["training_iteration"] == row.iterations
            assert child.data.metrics["training_iteration"] == row.iterations
            if not math.isnan(row.last_objective):
                assert reports[-1]["objective"] == pytest.approx(row.last_objective)
                assert child.data.metrics["objective"] == pytest.approx(row.last_objective)
    # Rule: one best trial (search.trial.ranking): results.csv's first row, when it can be
    # exported, is MLflow's best_trial_id and the trial the export takes
    best = best_trials(table, 1)
    if best:
        assert table["trial_id"].iloc[0] == best[0]
        assert parent.data.tags.get("best_trial_id") == best[0]
        assert select(from_ray(str(exp_dir)), metric=None, mode="min").trial_id == best[0]
    # Rule: the Optuna study has no trial left RUNNING
    study = optuna.load_study(study_name=experiment, storage=f"sqlite:///{exp_dir / 'optuna.db'}")
    assert not [t.number for t in study.trials if t.state == TrialState.RUNNING]
    return table


def test_a_budget_that_ends_before_trials_report_ends_cleanly() -> None:
    # many tiny trials and a budget: it ends with finished trials beside trials that have not
    # reported (Ray's own reporter then failed comparing None with a float)
    root = short_tmp()
    storage, uri = root / "ray", f"sqlite:///{root / 'mlflow.db'}"
    argv = [sys.executable, str(RUN), "--smoke-test", "--num-samples", "500"]
    argv += ["--time-budget", "30", "--experiment", "cut", "--storage-path", str(storage)]
    argv += ["--tracking-uri", uri]
    done = subprocess.run(argv, cwd=root, env=search_env(root), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    # Rule: exit 0, the final table printed, no traceback
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "progress display failed" not in done.stderr
    # nor Ray's warning that a trial without a report has no metrics: the table counts it
    assert "Failed to fetch metrics" not in done.stderr, done.stderr[-3000:]
    assert "trials: completed" in done.stdout and "top " in done.stdout
    table = assert_ended_cleanly(storage, "cut", uri)
    study = optuna.load_study(study_name="cut", storage=f"sqlite:///{storage / 'cut/optuna.db'}")
    unreported = [t for t in study.trials if not t.intermediate_values]
    # The case of the issue really happened: trials without a report when the budget ended
    # (Ray had created them; some may never have started), beside trials that reported.
    assert unreported and (table["iterations"] > 0).any()
    # Rule: a trial cut by the budget is stopped_budget, in the table and in Optuna (the
    # trials Ray's searcher had not been told of are closed with their status)
    closed = {t.user_attrs[STATUS_ATTR] for t in study.trials if STATUS_ATTR in t.user_attrs}
    assert closed == {STOPPED_BUDGET}, [(t.state, t.user_attrs) for t in unreported]
    assert not (table["status"] == INTERRUPTED).any()


def test_failing_display_and_plots_do_not_end_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("display broken")

    monkeypatch.setattr(search.launch.reporter.SearchReporter, "_progress_str", broken)
    monkeypatch.setattr(search.tracking.finish, "plot_search", broken)
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    rc = main(["--smoke-test", "--experiment", "broken", "--storage-path", str(tmp_path / "ray"),
               "--tracking-uri", uri])  # fmt: skip
    out = capsys.readouterr()
    # Rule: each failure is one line, the search goes on and ends as usual
    assert rc == 0, out.out[-2000:] + out.err[-2000:]
    assert out.err.count("progress display failed (RuntimeError: display broken)") == 1
    assert "MLflow: the search plots failed (display broken)" in out.err
    assert "top 4 of 4 trials:" in out.out
    assert_ended_cleanly(tmp_path / "ray", "broken", uri)


def _first_report(exp_dir: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if any(p.stat().st_size > 0 for p in exp_dir.glob("*/result.json")):
            return
        time.sleep(0.5)
    raise AssertionError("no trial reported before the deadline")


def test_sigterm_ends_the_search_cleanly_and_resume_continues_it() -> None:
    root = short_tmp()
    storage, uri = root / "ray", f"sqlite:///{root / 'mlflow.db'}"
    base = [sys.executable, str(RUN), "--experiment", "term", "--storage-path", str(storage)]
    base += ["--tracking-uri", uri]
    # trials long enough (40 reports of 1,024 sequences, no ASHA stop before 40) that the
    # signal finds them running
    argv = [*base, "--smoke-test", "--max-iterations", "40", "--report-sequences", "1024"]
    argv += ["--grace-period", "40", "--time-budget", "900", "--trial-seconds", "0"]
    argv += ["--num-samples", "2"]
    proc = subprocess.Popen(argv, cwd=root, env=search_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _first_report(storage / "term", time.monotonic() + 240)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    # Rule: SIGTERM ends the search as its budget would, exit code 130, and says how to resume
    assert proc.returncode == EXIT_INTERRUPTED, out[-3000:] + err[-3000:]
    assert "interrupted by SIGTERM" in out and "--resume" in out
    table = assert_ended_cleanly(storage, "term", uri)
    interrupted = set(table.loc[table["status"] == INTERRUPTED, "trial_id"])
    assert interrupted, table[["trial_id", "status", "iterations"]]
    before = {t: len(ray_reports(storage / "term", t)) for t in interrupted}
    # Rule: --resume continues the interrupted trials from where they were
    done = subprocess.run([*base, "--resume"], cwd=root, env=search_env(root),
                          capture_output=True, text=True, timeout=400)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    resumed = assert_ended_cleanly(storage, "term", uri)
    for trial_id, count in before.items():
        row = resumed.loc[resumed["trial_id"] == trial_id].iloc[0]
        assert row["status"] != INTERRUPTED
        steps = [r["training_iteration"] for r in ray_reports(storage / "term", trial_id)]
        assert max(steps) > count, steps
