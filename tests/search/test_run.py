"""search/run.py end to end: the smoke test, bad input (exit 2, one line), loopback-only Ray."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from ntm.cli import guarded
from search.cluster.env import LOOPBACK_ENV, NICENESS_ENV, set_ray_env
from search.cluster.nodes import init_ray
from search.launch.cli import PROG, parse_search_args
from search.launch.config import SearchConfig
from search.run import main
from search.trial.status import FINAL_STATUSES

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost"}
Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.slow
def test_smoke_test_runs_a_complete_search(run_cli: Runner, tmp_path: Path) -> None:
    done = run_cli("--smoke-test", "--no-tracking", "--experiment", "smoke", timeout=150)
    # Rule: the smoke test is a complete search that exits 0.
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    csv = tmp_path / "ray_results" / "smoke" / "results.csv"
    table = pd.read_csv(csv, dtype={"trial_id": str})
    # Rule: the table is saved as CSV in the experiment directory under ./ray_results, one row
    # per trial (4 in the smoke test), each with a final status.
    assert len(table) == 4
    assert set(table["status"]) <= set(FINAL_STATUSES)
    # Rule: the table of top trials and the status counts are printed at the end.
    assert "top 4 of 4 trials:" in done.stdout
    assert "trials: completed" in done.stdout and "pruned_nan 0" in done.stdout
    # Rule: trials ran on the CPU here and reported their device.
    progress = pd.read_csv(next((tmp_path / "ray_results" / "smoke").glob("*/progress.csv")))
    assert set(progress["device"]) == {"cpu"}


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    out = capsys.readouterr().out
    # Rule: --help exits 0 and lists the options of the issue.
    assert info.value.code == 0
    for flag in (
        "--task", "--space", "--num-samples", "--time-budget", "--max-iterations",
        "--cpus-per-trial", "--gpus-per-trial", "--experiment", "--storage-path", "--resume",
        "--seed", "--smoke-test", "--address", "--inject-nan-at-step", "--inject-nan-trials",
    ):  # fmt: skip
        assert flag in out, flag


def test_options_are_the_search_config_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = parse_search_args([])
    # Rule: with no option, the dataclass defaults; the entry point names the experiment and
    # resolves the relative default storage path once, against the working directory.
    storage = str((tmp_path / "ray_results").resolve())
    assert cfg == dataclasses.replace(
        SearchConfig(), experiment=cfg.experiment, storage_path=storage
    )
    assert cfg.experiment is not None and cfg.experiment.startswith("copy-")


def bad_space(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


BAD_INPUTS: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("unknown task", lambda p: ["--task", "sorting"], "--task must be one of"),
    (
        "malformed space",
        lambda p: ["--space", bad_space(p, "task: copy\nparams: {lr: [1,\n")],
        "malformed YAML",
    ),
    (
        "invalid space",
        lambda p: ["--space", bad_space(p, "task: copy\nparams: {lr: {uniform: [1, 0]}}\n")],
        "params.lr: uniform bounds must satisfy low < high",
    ),
    (
        "start point outside its space",
        lambda p: [
            "--space",
            bad_space(p, "task: copy\nparams: {clip: norm}\nstart_points: [{clip: value}]\n"),
        ],
        "start_points[0].clip: 'value' is outside the space",
    ),
    (
        "rmsprop_alpha out of range",
        lambda p: [
            "--space",
            bad_space(p, "task: copy\nparams: {optimizer: rmsprop, rmsprop_alpha: 1.5}\n"),
        ],
        "rmsprop_alpha must be in (0, 1), but got rmsprop_alpha=1.5.",
    ),
    ("too many CPUs", lambda p: ["--cpus-per-trial", "4096"], "--cpus-per-trial 4096 is more"),
    ("no such GPU", lambda p: ["--gpus-per-trial", "64"], "--gpus-per-trial 64 is more"),
    (
        "resume of nothing",
        lambda p: ["--resume", "--experiment", "never-ran"],
        "no experiment to resume",
    ),
    ("bad number", lambda p: ["--num-samples", "0"], "--num-samples must be >= 1"),
]


@pytest.mark.parametrize(
    ("make_args", "message"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_args: Callable[[Path], list[str]],
    message: str,
) -> None:
    storage = tmp_path / "results"
    argv = [*make_args(tmp_path), "--storage-path", str(storage), "--no-tracking"]
    with pytest.raises(SystemExit) as info:
        guarded(PROG, lambda: main(argv))
    err = capsys.readouterr().err
    # Rule: bad input is exit code 2 with one line on stderr naming the problem.
    assert info.value.code == 2
    assert message in err and err.count("\n") == 1, err
    # Rule: it is caught before any trial starts: nothing was written.
    assert not storage.exists()


def test_an_option_given_always_wins_over_the_smoke_test(tmp_path: Path) -> None:
    storage = ["--storage-path", str(tmp_path)]
    default = SearchConfig().num_samples
    # Rule: the smoke test's own values for what the command line does not give...
    assert parse_search_args(["--smoke-test", *storage]).num_samples == 4
    # ...but an option given wins, also when its value is the option's default.
    given = parse_search_args(["--smoke-test", "--num-samples", str(default), *storage])
    assert given.num_samples == default != 4
    assert parse_search_args(["--smoke-test", "--time-budget=25", *storage]).time_budget == 25


def test_the_spaces_schedule_sets_defaults_that_options_override(tmp_path: Path) -> None:
    space = tmp_path / "slow.yaml"
    space.write_text(
        "task: copy\nparams: {memory_n: 16}\n"
        "schedule: {report_sequences: 4096, max_iterations: 50, grace_period: 30}\n"
    )
    base = ["--space", str(space), "--storage-path", str(tmp_path)]
    # Rule: the space's schedule replaces the search's defaults...
    cfg = parse_search_args(base)
    assert (cfg.report_sequences, cfg.max_iterations, cfg.grace) == (4096, 50, 30)
    # ...an option given wins, also at its default value...
    default = SearchConfig().report_sequences
    cfg = parse_search_args([*base, "--report-sequences", str(default), "--grace-period", "5"])
    assert (cfg.report_sequences, cfg.grace) == (default, 5)
    # ...a --max-iterations below the schedule's grace shortens that grace...
    assert parse_search_args([*base, "--max-iterations", "12"]).grace == 12
    # ...and the smoke test keeps its own tiny schedule.
    smoke = parse_search_args([*base, "--smoke-test"])
    assert (smoke.report_sequences, smoke.max_iterations) == (64, 4)


def test_shipped_schedules_give_the_slow_tasks_a_late_first_rung(tmp_path: Path) -> None:
    storage = ["--storage-path", str(tmp_path)]
    copy = parse_search_args(["--task", "copy", *storage])
    for task in ("repeat_copy", "ngrams", "priority_sort"):
        cfg = parse_search_args(["--task", task, *storage])
        # Rule: ASHA first judges these tasks later (in sequences) than copy, whose curve
        # breaks through early.
        assert cfg.grace * cfg.report_sequences > 2 * copy.grace * copy.report_sequences, task


def test_local_trials_run_at_the_drivers_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (LOOPBACK_ENV, NICENESS_ENV, "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    set_ray_env(["--smoke-test"])
    # Rule: the local default renices no trial (Ray would put its workers at 15: starved
    # behind other work on a busy machine, benchmarks/RESULTS.md)...
    assert os.environ[NICENESS_ENV] == "0"
    monkeypatch.delenv(NICENESS_ENV)
    set_ray_env(["--address", "auto"])
    # ...and a search joining a cluster leaves the cluster's settings alone.
    assert NICENESS_ENV not in os.environ


def test_bad_input_from_the_shell_has_no_traceback(run_cli: Runner) -> None:
    done = run_cli("--task", "sorting", timeout=60)
    # Rule: the script itself exits 2 with a single line and no traceback.
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "--task must be one of" in done.stderr


@pytest.mark.slow
def test_local_ray_listens_on_loopback_only(psutil: ModuleType) -> None:
    import ray

    # Rule under test: the settings run.py starts Ray with (init_ray).
    os.environ.setdefault(LOOPBACK_ENV, "0")
    init_ray(SearchConfig().address)
    try:

        @ray.remote
        def pid() -> int:
            return os.getpid()

        ray.get([pid.remote() for _ in range(2)])  # start worker processes too
        listeners: dict[str, set[str]] = {}
        for proc in psutil.Process().children(recursive=True):
            try:
                for conn in proc.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        listeners.setdefault(proc.name(), set()).add(conn.laddr.ip)
            except psutil.Error:
                continue
        for conn in psutil.Process().net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                listeners.setdefault("driver", set()).add(conn.laddr.ip)
    finally:
        ray.shutdown()
    # Rule: the check saw Ray's servers (GCS, raylet, workers), so it is not vacuous.
    names = " ".join(listeners)
    assert "gcs_server" in names and "raylet" in names and "ray::" in names, listeners
    # Rule: every listening socket of every Ray process is bound to a loopback address.
    exposed = {name: ips - LOOPBACK for name, ips in listeners.items() if ips - LOOPBACK}
    assert not exposed, exposed
