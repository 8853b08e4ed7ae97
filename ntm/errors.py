"""The two error helpers every module uses: ``require`` for a checked rule, ``first_line`` for
a one-line message from any exception (the form entry points print before exiting with 2)."""

from __future__ import annotations

_MAX_CHARS = 1000  # a one-line error stays one screen line or a few, never a dump

__all__ = ["first_line", "require"]


def require(ok: bool, message: str, *, error: type[Exception] = ValueError) -> None:
    """Raise ``error(message)`` unless ``ok``: the one spelling of "this rule must hold".

    >>> require(1 >= 1, "x must be >= 1")
    >>> require(0 >= 1, "x must be >= 1, but got x=0.")
    Traceback (most recent call last):
    ValueError: x must be >= 1, but got x=0.
    """
    if not ok:
        raise error(message)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``str(exc)`` (at most 1,000 characters), else its type name.

    >>> first_line(ValueError("bad value\\ndetails"))
    'bad value'
    >>> first_line(KeyError())
    'KeyError'
    """
    text = str(exc).strip()
    return text.splitlines()[0][:_MAX_CHARS] if text else type(exc).__name__
