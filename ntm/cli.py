"""Shared command-line plumbing: one-line errors, exit code 2, no traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

EXIT_USAGE = 2


class UsageError(ValueError):
    """Bad input detected by an entry point (reported on one line, exit code 2)."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def guarded(prog: str, main: Callable[[], int | None]) -> int:
    """Run ``main``; a ValueError (bad config, bad file) becomes a one-line error and exit 2."""
    try:
        return main() or 0
    except ValueError as exc:  # our configs raise precise ValueErrors naming the field
        fail(prog, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def parse_key_values(pairs: list[str] | None, *, flag: str) -> dict[str, Any]:
    """``["max_length=20", "bits=8"]`` -> ``{"max_length": 20, "bits": 8}`` (YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, but got {pair!r}.")
        out[key.strip()] = yaml.safe_load(value)
    return out
