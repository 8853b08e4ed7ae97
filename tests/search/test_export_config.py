"""search.exporter.config.ExportConfig and search/export.py's options built from it: every bad
input is one line naming the option and what it allows, exit 2, before anything is made."""

from __future__ import annotations

import dataclasses
import doctest
import subprocess
import sys
from pathlib import Path

import pytest

from search.export import HELP, build_parser, parse_export_args
from search.exporter import config as config_module
from search.exporter.config import DEFAULT_ALIAS, ExportConfig
from tests.search.mlflow_helpers import EXPORT


def test_doctests() -> None:
    assert doctest.testmod(config_module).failed == 0


def test_options_are_the_config_fields_with_their_defaults() -> None:
    parser = build_parser()
    options = {a.dest: a for a in parser._actions if a.dest != "help"}
    fields = {f.name: f for f in dataclasses.fields(ExportConfig)}
    # Rule: one option per ExportConfig field, each with a help text ...
    assert set(options) == set(fields) == set(HELP)
    # ... the two fields without a default are the required options ...
    assert {d for d, a in options.items() if a.required} == {"experiment", "out"}
    # ... and every other option's default is the field's.
    for name, f in fields.items():
        if f.default is not dataclasses.MISSING:
            assert options[name].default == f.default, name
    assert options["mode"].choices == ("min", "max")


def test_command_line_to_config() -> None:
    argv = ["--experiment", "e", "--out", "o", "--force", "--mode", "max", "--metric", "acc"]
    got = parse_export_args([*argv, "--register", "ntm-e", "--lengths", "2,4"])
    # Rule: each option lands in its field, with the field's type (--out is a Path).
    assert got == ExportConfig(
        "e", Path("o"), metric="acc", mode="max", lengths="2,4", force=True, register="ntm-e"
    )
    assert got.sizes == [2, 4] and got.alias == DEFAULT_ALIAS
    # Rule: no --lengths, or an empty one, means the task's own sizes.
    assert parse_export_args(["--experiment", "e", "--out", "o"]).sizes is None
    assert ExportConfig("e", Path("o"), lengths="").sizes is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "low"}, "--mode must be one of ['min', 'max'], but got 'low'."),
        ({"lengths": "2,x"}, "--lengths must be comma-separated integers >= 1, but got '2,x'."),
        ({"lengths": "0,3"}, "--lengths must be comma-separated integers >= 1, but got '0,3'."),
        ({"alias": "v3"}, "--alias 'v3' is not a valid alias"),
    ],
)
def test_config_errors_name_the_option(changes: dict[str, str], message: str) -> None:
    # Rule: a bad value is a ValueError whose message names the option and what it allows.
    with pytest.raises(ValueError) as info:
        ExportConfig("e", Path("o"), **changes)
    assert str(info.value).startswith(message), info.value


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: --experiment, --out"),
        (["--mode", "low"], "argument --mode: invalid choice: 'low' (choose from 'min', 'max')"),
        (["--lengths", "3,,x"], "--lengths must be comma-separated integers >= 1"),
        (["--alias", "latest"], "--alias 'latest' is not a valid alias"),
        (["--force=yes"], "argument --force: ignored explicit argument 'yes'"),
    ],
)
def test_bad_command_line_is_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "sub" / "out"
    given = ["--experiment", "x", "--out", str(out), *args] if args else []
    done = subprocess.run(
        [sys.executable, str(EXPORT), *given],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    # Rule: exit code 2, one line naming the option, no traceback ...
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and message in lines[0], done.stderr
    # ... and nothing created: no --out, no MLflow store, no Ray results.
    assert list(tmp_path.iterdir()) == []
