"""Entry points: --help, and bad input as one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from curricula import CurriculumConfig
from ntm.cli import UsageError, guarded, parse_key_values
from ntm.config import NTMConfig
from ntm.tasks import TaskConfig
from ntm.train import PROG, build_parser, config_from_args, main, parse_args
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("module", ["ntm.train", "ntm.evaluate"])
def test_help(module: str) -> None:
    result = run("-m", module, "--help")
    # --help exits 0 and describes the options
    assert result.returncode == 0 and "--" in result.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--memory-n", "0"], "memory_n"),
        (["--memory-m", "0"], "memory_m"),
        (["--shift-range", "-1"], "shift_range"),
        (["--shift-range", "70"], "shift_range"),
        (["--task", "sorting"], "task"),
        (["--controller", "gru"], "controller"),
        (["--lr", "0"], "lr"),
        (["--read-heads", "0"], "read_heads"),
        (["--task-param", "min_length=5", "--task-param", "max_length=4"], "min_length"),
        (["--curriculum", "plateau", "--patience", "0"], "patience"),
        (["--curriculum", "magic"], "curriculum"),
        (["--batch-size", "many"], "--batch-size"),
        (["--optimizer", "rmsprop", "--rmsprop-alpha", "1.0"], "rmsprop_alpha must be in (0, 1)"),
        (["--optimizer", "rmsprop", "--rmsprop-alpha", "0"], "rmsprop_alpha must be in (0, 1)"),
        (["--rmsprop-centered=yes"], "--rmsprop-centered"),
        (["--clip", "clamp"], "clip must be one of"),
        (["--task", "repeat_copy", "--task-param", "repeat_encoding=paper"], "repeat_encoding"),
        (["--clip", "value", "--clip-value", "0"], "clip_value must be > 0"),
    ],
)
def test_bad_train_input(tmp_path: Path, args: list[str], field: str) -> None:
    ckpt = tmp_path / "run.pt"
    result = run("-m", "ntm.train", *args, "--steps", "1", "--checkpoint", str(ckpt))
    lines = result.stderr.strip().splitlines()
    # exit code 2, one line naming the field, no traceback
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and field in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    # ... and nothing written
    assert not ckpt.exists() and list(tmp_path.iterdir()) == []


def test_bad_evaluate_input(tmp_path: Path) -> None:
    missing = run("-m", "ntm.evaluate", str(tmp_path / "none.pt"))
    lengths = run("-m", "ntm.evaluate", str(tmp_path / "none.pt"), "--lengths", "10,x")
    for result, word in ((missing, "not found"), (lengths, "--lengths")):
        # a missing checkpoint or bad --lengths: one line, exit 2, no traceback
        assert result.returncode == 2 and word in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_train_then_evaluate_with_plots(tmp_path: Path) -> None:
    ckpt, plots = tmp_path / "run.pt", tmp_path / "plots"
    trained = run(
        "-m", "ntm.train", "--task-param", "max_length=3", "--controller-size", "16",
        "--memory-n", "16", "--memory-m", "8", "--steps", "20", "--report-every", "10",
        "--json", "--checkpoint", str(ckpt),
    )  # fmt: skip
    # a tiny run reports as JSON lines and leaves a checkpoint
    assert trained.returncode == 0, trained.stderr
    assert '"level"' in trained.stdout and ckpt.is_file()
    evaluated = run("-m", "ntm.evaluate", str(ckpt), "--lengths", "2,3", "--json",
                    "--plots", str(plots))  # fmt: skip
    # evaluation prints one JSON object and writes the four plots
    assert evaluated.returncode == 0, evaluated.stderr
    assert '"bit_errors"' in evaluated.stdout
    names = {"output_vs_target.png", "weightings.png", "memory.png", "learning_curve.png"}
    assert names == {p.name for p in plots.iterdir()}


def test_train_options_are_the_config_fields_with_their_defaults() -> None:
    config = config_from_args(build_parser().parse_args([]))
    # no option given: exactly the dataclasses' defaults (no literal default in the CLI)
    assert config == RunConfig(curriculum=CurriculumConfig(target_level=1))
    # every TrainConfig field is an option, and --help shows its default
    text = build_parser().format_help()
    assert "--solved-reports" in text and "--lr LR" in text and "(default: 0.005)" in text
    # ... the RMSprop options among them, with torch's defaults
    assert "--rmsprop-alpha RMSPROP_ALPHA" in text and "(default: 0.99)" in text
    assert "--rmsprop-centered, --no-rmsprop-centered" in text


def _saved_config(tmp_path: Path) -> tuple[RunConfig, Path]:
    """A run config unlike the defaults, saved as an export saves it (``config.json``)."""
    config = RunConfig(
        task=TaskConfig(name="copy", params={"min_length": 2, "max_length": 5}),
        model=NTMConfig(controller_size=32, memory_n=24, shift_range=2, learn_bias=False),
        curriculum=CurriculumConfig(name="plateau", target_level=1, params={"patience": 7}),
        train=TrainConfig(lr=2e-3, batch_size=4, seed=11, steps=30, report_every=10),
    )
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    return config, path


def test_config_file_values_are_the_defaults_and_options_override(tmp_path: Path) -> None:
    config, path = _saved_config(tmp_path)
    # --config alone rebuilds the saved run (the task decides the widths, as without it)
    same = config_from_args(parse_args(["--config", str(path)]))
    widths: dict[str, Any] = {
        "input_size": same.model.input_size,
        "output_size": same.model.output_size,
    }
    assert same == dataclasses.replace(config, model=dataclasses.replace(config.model, **widths))
    # options on the command line win, and the file's task/curriculum params merge under them
    args = ["--config", str(path), "--seed", "3", "--task-param", "max_length=6",
            "--patience", "2", "--controller-size", "40"]  # fmt: skip
    changed = config_from_args(parse_args(args))
    assert changed.train == dataclasses.replace(config.train, seed=3)
    assert dict(changed.task.params) == {"min_length": 2, "max_length": 6}
    assert dict(changed.curriculum.params) == {"patience": 2}
    assert changed.model.controller_size == 40 and changed.model.shift_range == 2


def test_train_from_config_prints_parameter_count(tmp_path: Path) -> None:
    _, path = _saved_config(tmp_path)
    result = run("-m", "ntm.train", "--config", str(path), "--json", "--no-progress")
    assert result.returncode == 0, result.stderr
    # the first stderr line names the model and its parameter count, then 3 reports
    model = Trainer(config_from_args(parse_args(["--config", str(path)]))).model
    count = sum(p.numel() for p in model.parameters())
    assert f"with {count:,} parameters" in result.stderr.splitlines()[0]
    reports = [json.loads(x) for x in result.stdout.splitlines() if '"step"' in x]
    assert [r["step"] for r in reports] == [10, 20, 30]


@pytest.mark.parametrize(
    ("text", "word"),
    [
        (None, "no such file"),
        ("[1]", "JSON object"),
        ("{", "not a JSON"),
        ('{"model": {"bogus": 1}}', "bogus"),
        ('{"train": {"rmsprop_alpha": 1.5}}', "rmsprop_alpha must be in (0, 1)"),
        ('{"train": {"rmsprop_centered": "yes"}}', "rmsprop_centered must be one of"),
    ],  # fmt: skip
)
def test_bad_config_file(
    tmp_path: Path, text: str | None, word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.json"
    if text is not None:
        path.write_text(text)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(SystemExit) as exit_:
        guarded(PROG, lambda: main(["--config", str(path), "--checkpoint", str(ckpt)]))
    err = capsys.readouterr().err
    # one line naming the problem, exit 2, nothing written
    assert exit_.value.code == 2 and word in err, err
    assert len(err.strip().splitlines()) == 1 and not ckpt.exists()


def test_key_values_are_yaml_scalars_and_exponent_numbers_floats() -> None:
    pairs = ["max_length=20", "lr=3e-3", "big=1E5", "neg=-2.5e-1", "flag=true", "name=paper",
             "version=1e", "plain=0.5"]  # fmt: skip
    # Rule: YAML scalars, and a number with an exponent a float (PyYAML reads '3e-3' as a string)
    assert parse_key_values(pairs, flag="--set") == {
        "max_length": 20, "lr": 0.003, "big": 100000.0, "neg": -0.25, "flag": True,
        "name": "paper", "version": "1e", "plain": 0.5,
    }  # fmt: skip
    # Rule: a pair without '=' or without a key is a one-line UsageError naming the option
    for bad in ("lr", "=3"):
        with pytest.raises(UsageError, match=f"--set expects KEY=VALUE, but got '{bad}'"):
            parse_key_values([bad], flag="--set")


def test_an_exponent_curriculum_param_reaches_the_config() -> None:
    # ntm.train read '1e-3' as a string and refused it ("must be a number")
    args = ["--curriculum", "plateau", "--curriculum-param", "mastery_threshold=1e-3"]
    assert config_from_args(parse_args(args)).curriculum.params["mastery_threshold"] == 0.001
