"""search/export.py on a real smoke search: the export, the registry and every bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

import ntm
from ntm.cli import guarded
from search.export import PROG, main
from search.tracking.client import connect
from search.tracking.runs import ROLE_TAG, find_parent
from search.trial.experiment_files import RESULTS_CSV
from tests.search.mlflow_helpers import (
    EXPORT,
    ROOT,
    SEARCH_TIMEOUT_S,
    Smoke,
    assert_reproduces,
    free_port,
    ray_reports,
    search_env,
    short_tmp,
)

pytest_plugins = ["tests.search.mlflow_fixtures"]  # the session fixture `smoke`, shared


def run_export(argv: list[str]) -> int:
    """Export as the command line runs it: a bad input is one line on stderr, exit 2."""
    try:
        return guarded(PROG, lambda: main(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


def leftovers(out: Path) -> list[Path]:
    """Temporary directories export may have left beside ``out``."""
    return [p for p in out.parent.glob(f".{out.name}*")]


@pytest.fixture(scope="module")
def exported(smoke: Smoke) -> Path:
    """The command line, once: export the best trial and register it as ``ntm-smoke``."""
    out = smoke.root / "exported"
    argv = [sys.executable, str(EXPORT), "--experiment", smoke.experiment, "--out", str(out)]
    argv += ["--storage-path", str(smoke.storage), "--tracking-uri", smoke.tracking_uri]
    argv += ["--register", "ntm-smoke", "--lengths", "2,3,6"]
    done = subprocess.run(argv, cwd=smoke.root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.mark.slow
def test_export_writes_a_loadable_model(exported: Path) -> None:
    # the export directory holds the model, its config, fresh metrics and the plots
    names = {p.name for p in exported.iterdir()}
    assert {"model.pt", "config.json", "metrics.json", "plots"} <= names
    assert {p.name for p in (exported / "plots").iterdir()} >= {
        "learning_curve.png",
        "output_vs_target.png",
        "weightings.png",
        "memory.png",
    }
    # ntm.load reads it; model.pt holds only format, config and weights
    model, task, config = ntm.load(exported)
    assert set(torch.load(exported / "model.pt", weights_only=True)) == {
        "format",
        "config",
        "model",
    }
    assert json.loads((exported / "config.json").read_text()) == config.to_dict()
    # metrics.json has a fresh evaluation at every requested size
    metrics = json.loads((exported / "metrics.json").read_text())
    assert [row["size"] for row in metrics["sizes"]] == [2, 3, 6]
    assert task.name == metrics["task"] == "copy"


@pytest.mark.slow
def test_export_picks_the_best_finished_trial_and_reproduces_its_metric(
    smoke: Smoke, exported: Path
) -> None:
    metrics = json.loads((exported / "metrics.json").read_text())
    table = {r["trial_id"]: r for r in _final_reports(smoke)}
    finished = {t: r for t, r in table.items() if r["status"] != "pruned_nan"}
    # the chosen trial did not diverge, and no finished trial reached a higher level with
    # fewer bit errors
    chosen = table[metrics["trial_id"]]
    assert chosen["status"] != "pruned_nan"
    best = min(finished.values(), key=lambda r: (-r["max_level_reached"], r["objective"]))
    assert (chosen["max_level_reached"], chosen["objective"]) == (
        best["max_level_reached"],
        best["objective"],
    )
    # the loaded model gives the metric the search recorded, on the same seeded batch
    recorded = next(
        r
        for r in ray_reports(smoke.experiment_dir, metrics["trial_id"])
        if r["step"] == metrics["step"]
    )
    assert_reproduces(exported, recorded)


@pytest.mark.slow
def test_table_csv_mlflow_and_export_agree_on_the_best_trial(smoke: Smoke, exported: Path) -> None:
    printed = smoke.stdout.split("trials:\n", 1)[1].splitlines()[1].split()[0]
    csv = pd.read_csv(smoke.experiment_dir / RESULTS_CSV, dtype={"trial_id": str})
    client = connect(smoke.tracking_uri)
    parent = find_parent(client, smoke.experiment, finished=True)
    assert parent is not None
    tagged = client.get_run(parent).data.tags["best_trial_id"]
    chosen = json.loads((exported / "metrics.json").read_text())["trial_id"]
    # one ranking: the printed table, its CSV, MLflow's best tag and the export name one trial
    assert printed == csv["trial_id"].iloc[0] == tagged == chosen


def _final_reports(smoke: Smoke) -> list[dict]:
    out = []
    for trial_dir in smoke.experiment_dir.iterdir():
        if (trial_dir / "result.json").is_file():
            last = ray_reports(smoke.experiment_dir, trial_dir.name)[-1]
            out.append({**last, "trial_id": trial_dir.name})
    return out


_PREDICT = """
import json, sys
import mlflow, numpy as np
uri, inputs = sys.argv[1], np.load(sys.argv[2])
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
model = mlflow.pyfunc.load_model("models:/ntm-smoke@champion")
np.save(sys.argv[3], model.predict(inputs))
import ntm
print(json.dumps({"ntm": ntm.__file__, "signature": model.metadata.signature.to_dict()}))
"""


@pytest.mark.slow
def test_registered_model_serves_probabilities(smoke: Smoke, exported: Path) -> None:
    model, task, _ = ntm.load(exported)
    batch = task.sample_exact(2, 3, torch.Generator().manual_seed(0))
    inputs = batch.inputs.transpose(0, 1).contiguous().numpy()  # [B, T, I]
    np.save(smoke.root / "inputs.npy", inputs)
    script = [sys.executable, "-c", _PREDICT, smoke.tracking_uri, str(smoke.root / "inputs.npy")]
    script.append(str(smoke.root / "probs.npy"))
    empty = smoke.root / "empty-cwd"
    empty.mkdir(exist_ok=True)
    # a fresh process loads models:/NAME@champion as a pyfunc and predicts
    done = subprocess.run(script, cwd=empty, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    with torch.no_grad():
        expected = torch.sigmoid(model.forward_sequence(batch.inputs)[0]).transpose(0, 1)
    got = np.load(smoke.root / "probs.npy")
    # predict: inputs [B, T, I] -> output probabilities [B, T, O], as the export computes them
    assert got.shape == (2, batch.inputs.shape[0], task.output_size)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-6, atol=1e-7)
    # the model carries its code (code_paths): ntm was imported from the model, not the repo
    assert "/artifacts/code/ntm/" in info["ntm"]
    # the signature: float32 tensors [-1, -1, I] in and [-1, -1, O] out
    assert json.loads(info["signature"]["inputs"])[0]["tensor-spec"] == {
        "dtype": "float32",
        "shape": [-1, -1, task.input_size],
    }
    assert json.loads(info["signature"]["outputs"])[0]["tensor-spec"]["shape"] == [
        -1,
        -1,
        task.output_size,
    ]


@pytest.mark.slow
def test_registered_model_has_an_example_and_the_champion_alias(
    smoke: Smoke, exported: Path
) -> None:
    client = connect(smoke.tracking_uri)
    version = client.get_model_version_by_alias("ntm-smoke", "champion")
    metrics = json.loads((exported / "metrics.json").read_text())
    # the alias names the version the export recorded
    assert metrics["registered"] == {"name": "ntm-smoke", "version": int(version.version),
                                     "alias": "champion"}  # fmt: skip
    mlflow.set_tracking_uri(smoke.tracking_uri)
    info = mlflow.models.get_model_info("models:/ntm-smoke@champion")
    # logged from code (no pickle of project classes), with an input example from the task
    flavor = info.flavors["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert info.saved_input_example_info is not None
    # the export run is recorded beside the search, not as a trial
    runs = mlflow.search_runs(experiment_names=[smoke.experiment], output_format="list")
    assert sum(r.data.tags.get(ROLE_TAG) == "export" for r in runs) == 1


@pytest.mark.parametrize("alias", ["", "latest", "v3", "has space"])
def test_invalid_alias_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], alias: str
) -> None:
    out = tmp_path / "sub" / "out"
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    argv = ["--experiment", "x", "--out", str(out), "--tracking-uri", uri]
    argv += ["--register", "ntm-x", "--alias", alias]
    # MLflow's alias rule, checked first: one line naming --alias, exit 2, nothing created
    assert run_export(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--alias" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_export_from_mlflow_when_the_ray_directory_is_gone(smoke: Smoke, tmp_path: Path) -> None:
    out = tmp_path / "from-mlflow"
    argv = ["--experiment", smoke.experiment, "--out", str(out), "--lengths", "3"]
    argv += ["--storage-path", str(tmp_path / "nowhere"), "--tracking-uri", smoke.tracking_uri]
    # without the Ray directory the trials and checkpoints are found through MLflow
    assert run_export(argv) == 0
    assert ntm.load(out).task.name == "copy"


@pytest.mark.slow
def test_readme_export_command_works_after_make_run() -> None:
    """`make run ARGS=--smoke-test` in a fresh directory, with every default (relative
    ./ray_results, ./mlflow.db), then the README's export command verbatim, in the same
    directory (issue 15: a relative --storage-path used to be read as a URI)."""
    cwd = short_tmp()
    try:
        (cwd / "search").symlink_to(ROOT / "search")  # `search/run.py` as seen from the repo
        make_run = [sys.executable, "search/run.py", "--smoke-test"]  # Makefile's `run` line
        done = subprocess.run(make_run, cwd=cwd, env=search_env(cwd), capture_output=True,
                              text=True, timeout=SEARCH_TIMEOUT_S)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        name = done.stdout.split(": experiment ", 1)[1].split()[0]
        # the defaults were relative to the working directory
        assert (cwd / "ray_results" / name / RESULTS_CSV).is_file()
        assert (cwd / "mlflow.db").is_file()
        readme = f"python search/export.py --experiment {name} --out exported/{name}"
        argv = [sys.executable, *readme.split()[1:]]
        exported = subprocess.run(argv, cwd=cwd, env=search_env(cwd), capture_output=True,
                                  text=True, timeout=180)  # fmt: skip
        # the README's command exports the best trial, as the search's table ranked it
        assert exported.returncode == 0, exported.stderr[-2000:]
        table = pd.read_csv(cwd / "ray_results" / name / RESULTS_CSV, dtype={"trial_id": str})
        metrics = json.loads((cwd / "exported" / name / "metrics.json").read_text())
        assert metrics["trial_id"] == table["trial_id"].iloc[0]
        assert ntm.load(cwd / "exported" / name).task.name == "copy"
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


# -- bad input: one line, exit 2, nothing written -------------------------------------------
def copy_experiment(smoke: Smoke, tmp_path: Path) -> Path:
    storage = tmp_path / "storage"
    shutil.copytree(smoke.experiment_dir, storage / smoke.experiment)
    return storage


def corrupt(path: Path) -> None:
    path.write_bytes(b"\x80\x04 not a checkpoint")


class _Payload:
    """An object whose unpickling would run code: weights_only loading must refuse it."""

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (print, ("tampered checkpoint executed code",))


def tamper_code(path: Path) -> None:
    ckpt = torch.load(path, weights_only=True)
    ckpt["extra"] = _Payload()
    torch.save(ckpt, path)


def tamper_config(path: Path) -> None:
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["model"]["memory_n"] = 7  # weights no longer match the config
    torch.save(ckpt, path)


@pytest.mark.slow
@pytest.mark.parametrize("damage", [corrupt, tamper_code, tamper_config])
def test_bad_checkpoint_is_refused(
    smoke: Smoke,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], None],
) -> None:
    storage = copy_experiment(smoke, tmp_path)
    for ckpt in storage.glob("*/*/checkpoint_*/checkpoint.pt"):
        damage(ckpt)
    out = tmp_path / "out"
    argv = ["--experiment", smoke.experiment, "--out", str(out), "--storage-path", str(storage)]
    code = run_export(argv)
    err = capsys.readouterr().err.strip()
    # a one-line error naming the checkpoint, exit 2, no output and no temp dir left
    assert code == 2
    assert len(err.splitlines()) == 1 and "corrupt or tampered" in err
    assert "executed code" not in capsys.readouterr().out
    assert not out.exists() and not leftovers(out)


@pytest.mark.slow
def test_unknown_experiment(smoke: Smoke, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "out"
    argv = ["--experiment", "no-such-search", "--out", str(out)]
    argv += ["--storage-path", str(smoke.storage), "--tracking-uri", smoke.tracking_uri]
    # neither a Ray directory nor an MLflow experiment of that name: one line, exit 2
    assert run_export(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown experiment 'no-such-search'" in err
    assert not out.exists() and not leftovers(out)


def test_no_finished_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = connect(uri)
    exp = client.create_experiment("all-diverged")
    parent = client.create_run(exp, tags={ROLE_TAG: "search"}).info.run_id
    for i in range(2):
        tags = {"mlflow.parentRunId": parent, ROLE_TAG: "trial", "trial_id": f"t{i}"}
        child = client.create_run(exp, tags={**tags, "status": "pruned_nan"})
        client.set_terminated(child.info.run_id, status="FAILED")
    out = tmp_path / "out"
    argv = ["--experiment", "all-diverged", "--out", str(out), "--tracking-uri", uri]
    argv += ["--storage-path", str(tmp_path / "ray")]
    capsys.readouterr()  # MLflow's own log lines from creating the store above
    # only diverged trials: nothing to export, and the error says what was found
    assert run_export(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2 pruned_nan" in err
    assert not out.exists() and not leftovers(out)


def test_unreachable_tracking_uri_fails_fast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    argv = ["--experiment", "x", "--out", str(out), "--tracking-uri", uri]
    start = time.monotonic()
    code = run_export(argv)
    # a short timeout, no retries: one line and exit 2 within seconds
    assert code == 2 and time.monotonic() - start < 15
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unreachable" in err
    assert not out.exists() and not leftovers(out)


def test_non_empty_out_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    # an existing non-empty --out is refused before anything else, and left as it was
    assert run_export(["--experiment", "x", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--force" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and not leftovers(out)


@pytest.mark.slow
def test_force_replaces_out_atomically(smoke: Smoke, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    argv = ["--experiment", smoke.experiment, "--out", str(out), "--force", "--lengths", "3"]
    argv += ["--storage-path", str(smoke.storage)]
    # --force replaces the directory as a whole: old files gone, new export complete
    assert run_export(argv) == 0
    assert not (out / "old.txt").exists() and (out / "model.pt").is_file()
    assert not leftovers(out)


def test_missing_file_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["--experiment", "x", "--out", str(out), "--tracking-uri", "file:MISSING_DIR"]
    # a file: store whose directory does not exist: one line naming it, exit 2, nothing made
    assert run_export(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no directory MISSING_DIR" in err
    assert list(tmp_path.iterdir()) == [] and not Path("MISSING_DIR").exists()
