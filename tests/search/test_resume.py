"""Kill -9 of the driver mid-search, then --resume: nothing re-run, the searcher state and the
Optuna study (its sqlite file) kept; at Tune's default snapshot period, every unfinished trial
continues from its newest checkpoint on disk and MLflow holds each report once."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState
from ray.tune import ExperimentAnalysis

from ntm.checkpoint import CheckpointError, load_checkpoint
from search.space.searcher import NTMOptunaSearch
from search.space.study import STUDY_FILE, TRIAL_ID_ATTR
from search.trial.resume import checkpoint_index
from search.trial.trainable import CHECKPOINT_FILE

RUN_PY = Path(__file__).resolve().parents[2] / "search" / "run.py"
NUM_SAMPLES = 4
REPORTS = 8
REPORT_EVERY = 32  # --report-sequences 256 at the smoke test's batch size 8
SEARCH = [
    "--smoke-test",
    "--no-tracking",
    "--experiment",
    "resume",
    "--num-samples",
    str(NUM_SAMPLES),
    "--max-iterations",
    str(REPORTS),
    "--grace-period",
    str(REPORTS),  # ASHA stops nobody: every trial must complete
    "--report-sequences",
    "256",
    "--trial-seconds",
    "0",
    "--time-budget",
    "600",
]


def results(experiment: Path) -> dict[str, list[dict[str, Any]]]:
    """Every trial's reports as written by Tune (result.json, one JSON object a line)."""
    out = {}
    for path in experiment.glob("*/result.json"):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        out[path.parent.name] = [json.loads(line) for line in lines]
    return out


def searcher_trials(experiment: Path) -> dict[str, tuple[int, TrialState, dict[str, Any]]]:
    """Ray trial id -> (Optuna number, state, params) from the saved searcher state."""
    searcher = NTMOptunaSearch()
    searcher.restore_from_dir(str(experiment))
    frozen = searcher.study_trials()
    return {
        trial_id: (ot.number, frozen[ot.number].state, frozen[ot.number].params)
        for trial_id, ot in searcher._ot_trials.items()
    }


def wait_for_mid_search(experiment: Path, driver: subprocess.Popen[str]) -> tuple[str, set[str]]:
    """Until one trial is done (in the study) and another has checkpoints, running: the running
    one's id and the ids of those done by then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert driver.poll() is None, "the search ended before it could be killed"
        try:
            trials = searcher_trials(experiment).items()
            done = [k for k, s in trials if s[1] == TrialState.COMPLETE]
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError):  # not saved yet
            done = []
        running = [
            trial_id
            for trial_id, reports in results(experiment).items()
            if reports
            and reports[-1]["status"] == "running"
            and len(list((experiment / trial_id).glob("checkpoint_*"))) >= 2
        ]
        if done and running:
            return running[0], set(done)
        time.sleep(0.5)
    raise AssertionError("no mid-search state reached within 120 s")


def kill_tree(driver: subprocess.Popen[str], psutil: ModuleType) -> None:
    """SIGKILL the driver; then make sure the Ray processes it started are gone too."""
    try:
        children = psutil.Process(driver.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if driver.poll() is None:
        os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    _, alive = psutil.wait_procs(children, timeout=20)
    for proc in alive:  # Ray's own fate-sharing normally ends them; clean up if not
        proc.kill()


@pytest.mark.slow
def test_resume_after_sigkill_runs_nothing_twice(tmp_path: Path, psutil: ModuleType) -> None:
    experiment = tmp_path / "resume"
    env = {**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "1", "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, str(RUN_PY), *SEARCH, "--storage-path", str(tmp_path)]
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        candidate, done_early = wait_for_mid_search(experiment, driver)  # type: ignore[arg-type]
        time.sleep(2.0)  # let Tune's 1 s experiment snapshot include the candidate's checkpoint
    finally:
        kill_tree(driver, psutil)  # type: ignore[arg-type]
    before = results(experiment)
    searcher_before = searcher_trials(experiment)
    # The study (sqlite) records a trial's end at once, Tune's snapshot up to 1 s later: the
    # trials that must not run again are those done 2 s before the kill, in both by then.
    done_before = {
        k: v for k, v in searcher_before.items() if v[1] == TrialState.COMPLETE and k in done_early
    }

    resumed = subprocess.run(
        [sys.executable, str(RUN_PY), "--resume", "--experiment", "resume", "--no-tracking",
         "--storage-path", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    # Rule: the resumed search runs to its end.
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = results(experiment)
    table = pd.read_csv(experiment / "results.csv", dtype={"trial_id": str})

    # Rule: the same experiment continues: every trial of before is there, no extra trials.
    assert set(before) <= set(after)
    assert len(table) == NUM_SAMPLES and table["trial_id"].is_unique
    # Rule: every trial ends completed (unfinished ones were resumed, not dropped).
    assert set(table["status"]) == {"completed"}
    # Rule: trials finished before the kill are not re-run (no new reports).
    for trial_id in done_before:
        assert len(after[trial_id]) == len(before[trial_id]), trial_id
    # Rule: an unfinished trial resumes from its checkpoint: its first report is not repeated.
    steps = [r["step"] for r in after[candidate]]
    assert steps.count(REPORT_EVERY) == 1, steps
    assert steps[-1] == REPORTS * REPORT_EVERY
    # Rule: the Optuna searcher state survived the restore (ray-project/ray#30861): the study
    # still holds the trials completed before, same number, state and params...
    searcher_after = searcher_trials(experiment)
    for trial_id, (number, state, params) in done_before.items():
        assert searcher_after[trial_id] == (number, state, params)
    # ...and it knows every trial of the experiment, each told to Optuna once.
    assert sorted(searcher_after) == sorted(table["trial_id"])
    assert [s[1] for s in searcher_after.values()] == [TrialState.COMPLETE] * NUM_SAMPLES
    # Rule: the study in its sqlite file (what optuna-dashboard reads) holds every trial once,
    # COMPLETE: none lost, none duplicated, no orphan asked after the snapshot left RUNNING.
    study = optuna.load_study(study_name="resume", storage=f"sqlite:///{experiment / STUDY_FILE}")
    ray_ids = [t.user_attrs[TRIAL_ID_ATTR] for t in study.get_trials()]
    assert sorted(ray_ids) == sorted(table["trial_id"])
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * NUM_SAMPLES


def newest_on_disk(trial_dir: Path) -> tuple[int, dict[str, Any]] | None:
    """(index, contents) of a trial's newest checkpoint that loads (one the kill cut short
    does not)."""
    for path in sorted(trial_dir.glob("checkpoint_*"), reverse=True):
        try:
            contents = load_checkpoint(path / CHECKPOINT_FILE)
        except CheckpointError:
            continue
        index = checkpoint_index(str(path))
        assert index is not None
        return index, contents
    return None


def checkpoint_at(trial_dir: Path, index: int) -> dict[str, Any]:
    return load_checkpoint(trial_dir / f"checkpoint_{index:06d}" / CHECKPOINT_FILE)


def snapshot_checkpoints(experiment: Path) -> dict[str, int | None]:
    """Trial id -> index of the checkpoint Ray's experiment snapshot would restore it from."""
    trials = ExperimentAnalysis(str(experiment)).trials
    return {
        str(t.trial_id): checkpoint_index(t.checkpoint.path) if t.checkpoint else None
        for t in trials
    }


def wait_for_fresh_checkpoint(experiment: Path, driver: subprocess.Popen[str]) -> str:
    """Until an unfinished trial known to Ray's snapshot (written >= 1 s before) writes a
    checkpoint, its second or later: that trial's id. The kill follows at once."""
    counts: dict[str, int] = {}
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert driver.poll() is None, "the search ended before it could be killed"
        states = sorted(experiment.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
        snapshot = states[-1].read_text() if states else ""
        old_enough = bool(states) and time.time() - states[-1].stat().st_mtime >= 1.0
        for trial_dir in experiment.glob("*/"):
            count = len(list(trial_dir.glob("checkpoint_*/" + CHECKPOINT_FILE)))
            fresh = count > counts.get(trial_dir.name, count)
            counts[trial_dir.name] = count
            if fresh and old_enough and 2 <= count < REPORTS and trial_dir.name in snapshot:
                return trial_dir.name
        time.sleep(0.05)
    raise AssertionError("no fresh checkpoint after a snapshot within 150 s")


def mlflow_reports(uri: str, experiment: str) -> dict[str, dict[int, float]]:
    """Trial id -> {MLflow step: the trainer's step} of its child run, one entry per point."""
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    out = {}
    for run in client.search_runs([exp.experiment_id], "tags.`ntm.role` = 'trial'"):
        history = client.get_metric_history(run.info.run_id, "step")
        points = [(m.step, m.value) for m in history]
        assert len({step for step, _ in points}) == len(points), points  # no step twice
        out[run.data.tags["trial_id"]] = dict(points)
    return out


@pytest.mark.slow
def test_resume_at_default_snapshot_period_continues_from_newest_checkpoint(
    tmp_path: Path, psutil: ModuleType
) -> None:
    experiment = tmp_path / "resume"
    env = {k: v for k, v in os.environ.items() if k != "TUNE_GLOBAL_CHECKPOINT_S"}
    env["PYTHONUNBUFFERED"] = "1"  # Tune's default ("auto": a snapshot every >= 10 s)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracked = [a for a in SEARCH if a != "--no-tracking"] + ["--tracking-uri", uri]
    tracked[tracked.index("--num-samples") + 1] = "2"  # two trials at once on two cores
    args = [sys.executable, str(RUN_PY), *tracked, "--storage-path", str(tmp_path)]
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        candidate = wait_for_fresh_checkpoint(experiment, driver)  # type: ignore[arg-type]
    finally:
        kill_tree(driver, psutil)  # type: ignore[arg-type]
    snapshot = snapshot_checkpoints(experiment)
    on_disk = {t: newest_on_disk(experiment / t) for t in snapshot}
    ahead = {
        t: found for t, found in on_disk.items()
        if found is not None and (snapshot[t] is None or snapshot[t] < found[0])
        and found[1]["history"][-1].get("stop_reason") is None
    }  # fmt: skip
    # Rule (the test meets the problem): Ray's snapshot restores the candidate from an older
    # checkpoint than its newest on disk.
    assert candidate in ahead, (candidate, snapshot, {t: f and f[0] for t, f in on_disk.items()})

    resumed = subprocess.run(
        [sys.executable, str(RUN_PY), "--resume", "--experiment", "resume",
         "--tracking-uri", uri, "--storage-path", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    # Rule: the resumed search runs to its end, every trial completed.
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    table = pd.read_csv(experiment / "results.csv", dtype={"trial_id": str})
    assert set(table["status"]) == {"completed"}
    after = results(experiment)
    for trial_id, (_, ckpt) in ahead.items():
        index = snapshot[trial_id]
        known = 0 if index is None else len(checkpoint_at(experiment / trial_id, index)["history"])
        resumed_at = len(ckpt["history"])  # the newest checkpoint's report number
        assert ckpt["history"][-1]["step"] == ckpt["step"] == resumed_at * REPORT_EVERY
        # the reports of the resumed session: from its last first-report-since-restore on
        starts = [i for i, r in enumerate(after[trial_id]) if r["iterations_since_restore"] == 1]
        session = after[trial_id][starts[-1] :]
        numbers = [r["training_iteration"] for r in session]
        # Rule: the resumed session reports every report after Ray's checkpoint once, each at
        # its own step, to the end...
        assert numbers == list(range(known + 1, REPORTS + 1)), (trial_id, known, numbers)
        assert [r["step"] for r in session] == [n * REPORT_EVERY for n in numbers]
        # ...but trains only after the newest checkpoint on disk (not from Ray's older one, not
        # from scratch): reports up to it come from the trainer's history and write no
        # checkpoint; each trained one does (the smoke test checkpoints every report).
        trained = [r["checkpoint_dir_name"] is not None for r in session]
        assert trained == [n > resumed_at for n in numbers], (trial_id, resumed_at, session)
    # Rule: every trial's result.json holds each of its reports (none lost at the kill).
    for trial_id in table["trial_id"]:
        iterations = {r["training_iteration"] for r in after[trial_id]}
        assert iterations == set(range(1, REPORTS + 1)), trial_id
    # Rule: MLflow holds every report of every trial Ray knows exactly once, at the step that
    # is its report number: no step twice (checked while reading), none dropped after resume.
    logged = mlflow_reports(uri, "resume")
    for trial_id in table["trial_id"]:
        assert logged[trial_id] == {i: i * REPORT_EVERY for i in range(1, REPORTS + 1)}, trial_id
