"""The Tuner's progress reporter, printing real Ray trials (local Ray on 127.0.0.1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Trial
from ray.tune.utils import log

from search.cluster.nodes import init_ray
from search.launch.config import SearchConfig
from search.launch.reporter import SearchReporter
from search.launch.tuner import METRIC, MODE, make_reporter
from search.space.load import default_space_path, load_space

CONFIG = {"lr": 1e-3, "batch_size": 8, "controller_size": 32, "memory_n": 16, "memory_m": 8,
          "curriculum": "fixed"}  # fmt: skip


def finished_trial(trial_id: str, objective: float, storage: StorageContext) -> Trial:
    trial = Trial("train_ntm", stub=True, trial_id=trial_id, config=dict(CONFIG), storage=storage)
    trial.update_last_result({METRIC: objective, "training_iteration": 4, "config": CONFIG})
    trial.init_local_path()  # as Tune does when it adds a trial
    trial.set_status(Trial.TERMINATED)
    return trial


def reporter_for(
    top: int, total: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[SearchReporter, StorageContext]:
    """The search's reporter set up as Tune does, with Tune's verbosity as the search sets it
    (RunConfig(verbose=1)), whatever ran before; and a storage for trials."""
    monkeypatch.setattr(log, "verbosity", log.Verbosity.V1_EXPERIMENT)
    storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="exp")
    reporter = make_reporter(SearchConfig(top=top), load_space(default_space_path("copy")))
    reporter.setup(start_time=0.0, total_samples=total, metric=METRIC, mode=MODE)
    return reporter, storage


@pytest.fixture
def local_ray() -> Iterator[None]:
    init_ray(None)
    yield
    ray.shutdown()


@pytest.mark.usefixtures("local_ray")
def test_reporter_lists_finished_trials_best_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter, storage = reporter_for(10, 3, tmp_path, monkeypatch)
    objectives = {"aaaa0001": 0.5, "aaaa0002": 0.01, "aaaa0003": 2.0}  # in trial id order
    reporter.report([finished_trial(t, v, storage) for t, v in objectives.items()], True)
    table = capsys.readouterr().out
    rows = re.findall(r"^\| train_ntm_(\w+) ", table, flags=re.MULTILINE)
    # Rule: the table lists the finished trials by objective, lowest (best, mode min) first.
    assert rows == ["aaaa0002", "aaaa0001", "aaaa0003"], table


def unreported_trial(trial_id: str, storage: StorageContext) -> Trial:
    """A trial that the search's end stopped before its first report (no metric at all)."""
    trial = Trial("train_ntm", stub=True, trial_id=trial_id, config=dict(CONFIG), storage=storage)
    trial.init_local_path()
    trial.set_status(Trial.TERMINATED)
    return trial


@pytest.mark.usefixtures("local_ray")
def test_reporter_ranks_a_finished_trial_without_a_metric_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter, storage = reporter_for(10, 4, tmp_path, monkeypatch)
    trials = [
        unreported_trial("bbbb0001", storage),
        finished_trial("bbbb0002", 0.5, storage),
        unreported_trial("bbbb0003", storage),
        finished_trial("bbbb0004", 0.1, storage),
    ]
    reporter.report(trials, True)
    captured = capsys.readouterr()
    rows = re.findall(r"^\| train_ntm_(\w+) ", captured.out, flags=re.MULTILINE)
    # Rule: finished trials without a metric (cut by the budget before their first report)
    # are listed after the others, best first; Ray's own sort raised TypeError on them.
    assert rows == ["bbbb0004", "bbbb0002", "bbbb0001", "bbbb0003"], captured
    assert "progress display failed" not in captured.err
    # Rule: the header counts every trial, not only the rows shown.
    assert "Number of trials: 4/4 (4 TERMINATED)" in captured.out


@pytest.mark.usefixtures("local_ray")
def test_reporter_shows_top_rows_and_says_how_many_are_hidden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter, storage = reporter_for(2, 3, tmp_path, monkeypatch)
    trials = [finished_trial(f"cccc000{i}", v, storage) for i, v in enumerate((0.3, 0.2, 0.9))]
    reporter.report(trials, False)
    out = capsys.readouterr().out
    rows = re.findall(r"^\| train_ntm_(\w+) ", out, flags=re.MULTILINE)
    # Rule: at most --top rows, the best finished ones, and a line for the rest.
    assert rows == ["cccc0001", "cccc0000"], out
    assert "... 1 more trials not shown" in out


@pytest.mark.usefixtures("local_ray")
def test_a_failing_reporter_says_one_line_and_does_not_raise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter, storage = reporter_for(10, 1, tmp_path, monkeypatch)

    def broken(*args: object, **kwargs: object) -> str:
        raise OSError("terminal gone")

    monkeypatch.setattr(reporter, "_progress_str", broken)
    trials = [finished_trial("dddd0001", 0.5, storage)]
    reporter.report(trials, False)
    reporter.report(trials, True)
    err = capsys.readouterr().err
    # Rule: a failing display is said once per kind of error, on one line, and never raises.
    assert err.count("progress display failed (OSError: terminal gone)") == 1, err
    assert len(err.strip().splitlines()) == 1
