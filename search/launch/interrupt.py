"""Ctrl-C and SIGTERM end a search as its time budget does: trials stopped and saved, then the
final table, ``results.csv``, MLflow and the Optuna study closed; ``--resume`` continues the
interrupted trials.

Ray Tune stops its loop gracefully on SIGUSR1 (and on SIGINT, with a handler of its own that
we switch off with ``TUNE_DISABLE_SIGINT_HANDLER``, so that both signals take one path).
While a search runs (``stop_on_signals``):

1. the first SIGINT or SIGTERM is noted (``Signals.received``) and passed on to Ray as
   SIGUSR1; before this search's Ray has set its handler (while Ray starts), it raises
   ``KeyboardInterrupt`` instead (exit code 130, nothing of the search to close);
2. a second one restores the previous handlers and raises ``KeyboardInterrupt``: the driver
   stops at once, as before (``--resume`` still continues from Ray's last snapshot).

The search keeps these handlers while it writes its end (table, MLflow, Optuna): a first
signal then changes nothing (Ray's loop is over), so the end is written whole.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType

__all__ = ["SIGINT_HANDLER_ENV", "Signals", "stop_on_signals"]

SIGINT_HANDLER_ENV = "TUNE_DISABLE_SIGINT_HANDLER"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Signals:
    """The stop signals a search received (names, in order)."""

    received: list[str] = field(default_factory=list)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Signals]:
    """Rules 1-2 of the module docstring while the block runs (main thread only)."""
    seen = Signals()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = {sig: signal.getsignal(sig) for sig in (*_SIGNALS, signal.SIGUSR1)}
    previous_env = os.environ.get(SIGINT_HANDLER_ENV)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        seen.received.append(name)
        ray_stops = signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None)
        if len(seen.received) > 1 or not ray_stops:  # rule 2, or rule 1 before Ray's loop
            restore()
            raise KeyboardInterrupt
        print(
            f"{name}: ending the search (trials saved, then the results); "
            f"send it again to stop at once",
            file=sys.stderr,
            flush=True,
        )
        os.kill(os.getpid(), signal.SIGUSR1)  # rule 1: Ray's graceful stop

    os.environ[SIGINT_HANDLER_ENV] = "1"
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)  # until this search's Ray sets its own
    for sig in _SIGNALS:
        signal.signal(sig, handler)
    try:
        yield seen
    finally:
        restore()
        if previous_env is None:
            os.environ.pop(SIGINT_HANDLER_ENV, None)
        else:
            os.environ[SIGINT_HANDLER_ENV] = previous_env
