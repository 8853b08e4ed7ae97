"""ntm.evaluate.EvaluateConfig and the options built from it: every bad input is one line
naming the option and what it allows, exit 2, before the checkpoint is read."""

from __future__ import annotations

import dataclasses
import doctest
from pathlib import Path

import pytest

import ntm.evaluate as evaluate_module
from ntm.cli import guarded
from ntm.evaluate import HELP, PROG, EvaluateConfig, build_parser, main, parse_evaluate_args


def run_evaluate(argv: list[str]) -> int:
    """Evaluate as the command line runs it: a bad input is one line on stderr, exit 2."""
    try:
        return guarded(PROG, lambda: main(argv))
    except SystemExit as exc:
        return int(exc.code or 0)


def test_doctests() -> None:
    assert doctest.testmod(evaluate_module).failed == 0


def test_options_are_the_config_fields_with_their_defaults() -> None:
    actions = {a.dest: a for a in build_parser()._actions if a.dest != "help"}
    fields = {f.name: f for f in dataclasses.fields(EvaluateConfig)}
    # Rule: one option per EvaluateConfig field, each with a help text ...
    assert set(actions) == set(fields) == set(HELP)
    # ... the checkpoint, which has no default, is the one positional argument ...
    assert [d for d, a in actions.items() if not a.option_strings] == ["checkpoint"]
    # ... and every option's default is the field's.
    for name, f in fields.items():
        if name != "checkpoint":
            assert actions[name].default == f.default, name


def test_command_line_to_config() -> None:
    got = parse_evaluate_args(["run.pt", "--lengths", "3,5", "--repeats", "2", "--json",
                               "--batch-size", "8", "--plots", "p", "--threads", "2"])  # fmt: skip
    # Rule: each option lands in its field with the field's type (paths are Paths).
    assert got == EvaluateConfig(
        Path("run.pt"), "3,5", repeats=2, batch_size=8, json=True, plots=Path("p"), threads=2
    )
    assert got.sizes == [3, 5]
    # Rule: the defaults are the sizes 10, 20, 50 and 100, batches of 64, seed 0, one thread.
    assert parse_evaluate_args(["run.pt"]) == EvaluateConfig(Path("run.pt"))
    assert EvaluateConfig(Path("run.pt")).sizes == [10, 20, 50, 100]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: checkpoint"),
        (["--lengths", "10,x"], "--lengths must be comma-separated integers >= 1, but got '10,x'."),
        (["--lengths", "0,5"], "--lengths must be comma-separated integers >= 1, but got '0,5'."),
        (["--lengths", ""], "--lengths must be comma-separated integers >= 1, but got ''."),
        (["--batch-size", "0"], "--batch-size must be >= 1, but got 0."),
        (["--repeats", "0"], "--repeats must be >= 1, but got 0."),
        (["--threads", "0"], "--threads must be >= 1, but got 0."),
        (["--seed", "q"], "argument --seed: invalid int value: 'q'"),
        (["--json=1"], "argument --json: ignored explicit argument '1'"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plots = tmp_path / "plots"
    argv = [str(tmp_path / "missing.pt"), "--plots", str(plots), *args] if args else []
    # Rule: exit code 2 and one line naming the option and what it allows: the config is
    # checked before the checkpoint is looked for (it does not exist here) ...
    assert run_evaluate(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    # ... and nothing is written.
    assert list(tmp_path.iterdir()) == []
