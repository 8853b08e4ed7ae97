"""The command-line pattern of every entry point: options generated from the config
dataclasses, one-line errors with exit code 2 and no traceback.

``add_fields`` turns the fields of a frozen config dataclass into options (``lr`` ->
``--lr``; its type, its default, shown by ``--help``, and a help text; a field without a
default is required, a ``Literal`` field offers its choices); ``field_values`` reads them
back as keyword arguments for the dataclass. A CLI adds only its few extras by
hand (``--task-param KEY=VALUE``, ``--resume``, ...). Values are checked by the dataclass
itself, whose ``ValueError`` names the field: ``guarded`` prints its first line and exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NoReturn

import yaml

from ntm.errors import first_line

EXIT_USAGE = 2
# A number with an exponent that YAML 1.1 (PyYAML) reads as a string: 3e-3, 1E5, 2.5e3.
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

__all__ = [
    "EXIT_USAGE",
    "HelpFormatter",
    "Parser",
    "UsageError",
    "add_fields",
    "fail",
    "field_values",
    "given_options",
    "guarded",
    "parse_key_values",
]


class UsageError(ValueError):
    """Bad input detected by an entry point (reported on one line, exit code 2)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and every option's default after its help."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single line on stderr and exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _option_type(hint: Any) -> Any:
    """``int``, ``float``, ``str``, ``bool``, ``Path`` or a ``Literal`` from a field's type
    (``float | None`` -> float)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner[0] if len(inner) == 1 else str
    return hint


def _field_default(f: dataclasses.Field[Any]) -> Any:
    """The field's default, or ``dataclasses.MISSING`` for a field without one (required)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _argument(
    f: dataclasses.Field[Any], hint: Any, *, positional: bool, store_true: bool
) -> dict[str, Any]:
    """``add_argument``'s keyword arguments for field ``f`` of type ``hint`` (no name, help or
    metavar): its type or action, its choices, its default and ``required`` or ``nargs``."""
    kind, default = _option_type(hint), _field_default(f)
    if store_true and (kind is not bool or default is not False):
        raise ValueError(f"store_true needs a bool field defaulting to False, not {f.name!r}.")
    if kind is bool and positional:
        raise ValueError(f"a bool field cannot be positional, but got {f.name!r}.")
    kwargs: dict[str, Any]
    if store_true:
        kwargs = {"action": "store_true"}
    elif kind is bool:
        kwargs = {"action": argparse.BooleanOptionalAction}
    elif typing.get_origin(kind) is typing.Literal:
        choices = typing.get_args(kind)
        kwargs = {"type": type(choices[0]), "choices": choices}
    else:
        kwargs = {"type": kind}
    if default is not dataclasses.MISSING:
        kwargs["default"] = default
        if positional:
            kwargs["nargs"] = "?"
    elif not positional:  # required option; SUPPRESS: no "(default: None)" in --help
        kwargs.update(required=True, default=argparse.SUPPRESS)
    return kwargs


def add_fields(
    group: argparse._ActionsContainer,
    cls: type,
    helps: Mapping[str, str],
    *,
    skip: Collection[str] = (),
    names: Mapping[str, str] | None = None,
    positional: Collection[str] = (),
    store_true: Collection[str] = (),
    metavars: Mapping[str, str] | None = None,
) -> None:
    """One option per field of dataclass ``cls`` (except ``skip``), named ``--field-name``
    or ``--NAME`` for ``names[field]``, with the field's type and default.

    A field without a default is a required option, or a positional argument when it is in
    ``positional``; a ``Literal["a", "b"]`` field offers those choices; ``X | None`` is an
    option of type X (a ``Path`` field reads a path). Booleans get ``--x/--no-x``, or
    ``--x`` alone for those in ``store_true`` (False by default). ``metavars[field]`` names
    the value in ``--help``.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        name = (names or {}).get(f.name, f.name)
        kwargs = _argument(
            f, hints[f.name], positional=f.name in positional, store_true=f.name in store_true
        )
        kwargs["help"] = helps.get(f.name, f.name.replace("_", " "))
        if metavars and f.name in metavars:
            kwargs["metavar"] = metavars[f.name]
        flag = name if f.name in positional else "--" + name.replace("_", "-")
        group.add_argument(flag, **kwargs)


def field_values(
    args: argparse.Namespace,
    cls: type,
    *,
    skip: Collection[str] = (),
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The values of the options ``add_fields`` made, keyed by field name."""
    return {
        f.name: getattr(args, (names or {}).get(f.name, f.name))
        for f in dataclasses.fields(cls)
        if f.name not in skip
    }


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> frozenset[str]:
    """The destinations that ``argv`` sets on the command line, also to their default value
    (``--num-samples 4`` is given even where 4 is the default). ``argv`` None: ``sys.argv``.

    The parser is run once more with every default suppressed, so that only what the
    command line sets appears in its namespace; its own defaults are put back after.
    """
    saved = [(action, action.default) for action in parser._actions]
    saved_defaults = parser._defaults
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        parser._defaults = {}
        namespace, _ = parser.parse_known_args(argv)
    finally:
        for action, default in saved:
            action.default = default
        parser._defaults = saved_defaults
    return frozenset(vars(namespace))


def fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def guarded(prog: str, main: Callable[[], int | None]) -> int:
    """Run ``main``; a ValueError (bad config, bad file) becomes a one-line error and exit 2."""
    try:
        return main() or 0
    except ValueError as exc:  # our configs raise precise ValueErrors naming the field
        fail(prog, first_line(exc))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def parse_key_values(pairs: list[str] | None, *, flag: str) -> dict[str, Any]:
    """``["max_length=20", "lr=3e-3"]`` -> ``{"max_length": 20, "lr": 0.003}`` (YAML scalars,
    and a number with an exponent a float, where YAML 1.1 would read the string ``'3e-3'``)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, but got {pair!r}.")
        text = value.strip()
        out[key.strip()] = float(text) if _EXPONENT_NUMBER.fullmatch(text) else yaml.safe_load(text)
    return out
