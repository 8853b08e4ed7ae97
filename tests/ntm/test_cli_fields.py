"""ntm.cli.add_fields and field_values: a config dataclass's fields as command-line options."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from ntm.cli import Parser, add_fields, field_values, given_options


@dataclass(frozen=True)
class Example:
    source: Path
    name: str
    out: Path | None = None
    mode: Literal["min", "max"] = "min"
    count: int | None = None
    rate: float = 0.5
    force: bool = False
    shuffle: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)


HELP = {"source": "file to read", "name": "a name", "mode": "direction"}


def parser(**kwargs: Any) -> argparse.ArgumentParser:
    p = Parser(prog="example")
    add_fields(p, Example, HELP, skip=("tags",), positional=("source",), store_true=("force",),
               **kwargs)  # fmt: skip
    return p


def parse(argv: list[str], **kwargs: Any) -> Example:
    args = parser(**kwargs).parse_args(argv)
    return Example(**field_values(args, Example, skip=("tags",)))


def test_defaults_types_and_choices() -> None:
    got = parse(["in.txt", "--name", "a"])
    # Rule: a positional Path, a required option, and every other field at its default.
    assert got == Example(source=Path("in.txt"), name="a")
    got = parse(["in.txt", "--name", "a", "--out", "o", "--mode", "max", "--count", "3",
                 "--rate", "2", "--force", "--no-shuffle"])  # fmt: skip
    # Rule: each option is read with the field's type: Path, a Literal's choice, int from
    # `int | None`, float; --force sets True alone, --no-shuffle sets False.
    assert got == Example(Path("in.txt"), "a", Path("o"), "max", 3, 2.0, True, False)
    assert isinstance(got.out, Path) and isinstance(got.rate, float)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--name", "a"], "required: source"),
        (["in.txt"], "required: --name"),
        (["in.txt", "--name", "a", "--mode", "low"], "argument --mode: invalid choice: 'low'"),
        (["in.txt", "--name", "a", "--count", "x"], "argument --count: invalid int value"),
        (["in.txt", "--name", "a", "--force=yes"], "argument --force: ignored explicit"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parser().parse_args(argv)
    err = capsys.readouterr().err.strip()
    # Rule: a missing required field, a value outside a Literal's choices or of the wrong
    # type is one line naming the option, and exit code 2.
    assert info.value.code == 2
    assert len(err.splitlines()) == 1 and message in err, err


def test_help_shows_choices_metavars_and_only_real_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        parser(metavars={"name": "NAME"}).parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    # Rule: the choices of a Literal, the metavar given, the help text, and the default of
    # a field that has one; a required option shows no "(default: None)".
    assert "--mode {min,max} direction (default: min)" in out
    assert "--name NAME a name --out OUT out (default: None)" in out
    assert "source file to read options:" in out
    assert "--rate RATE rate (default: 0.5)" in out
    assert "--force force (default: False)" in out
    assert "--shuffle, --no-shuffle shuffle (default: True)" in out
    assert "--tags" not in out


def test_positional_with_a_default_is_optional() -> None:
    @dataclass(frozen=True)
    class Optional_:
        path: Path = Path("default.txt")

    p = Parser(prog="x")
    add_fields(p, Optional_, {}, positional=("path",))
    # Rule: a positional field with a default may be left out (nargs "?").
    assert p.parse_args([]).path == Path("default.txt")
    assert p.parse_args(["b"]).path == Path("b")


def test_given_options_sees_positionals_and_required_options() -> None:
    p = parser()
    # Rule: given_options reports what the command line sets, positionals included.
    assert given_options(p, ["in.txt", "--name", "a"]) == {"source", "name"}
    # ... and leaves the parser's own defaults as they were.
    assert p.parse_args(["in.txt", "--name", "a"]).mode == "min"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"store_true": ("shuffle",)}, "store_true needs a bool field defaulting to False"),
        ({"store_true": ("rate",)}, "store_true needs a bool field defaulting to False"),
        ({"positional": ("force",)}, "a bool field cannot be positional"),
    ],
)
def test_misuse_is_a_precise_error(kwargs: dict[str, Any], message: str) -> None:
    # Rule: a store_true field must be a bool defaulting to False; a bool is never positional.
    with pytest.raises(ValueError, match=message):
        add_fields(Parser(prog="x"), Example, {}, skip=("tags",), **kwargs)
