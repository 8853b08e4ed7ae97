"""The set-up of every Ray worker process of a search, run before the worker takes a task.

``init_ray`` passes ``setup_worker`` as Ray's ``worker_process_setup_hook``. Ray's worker runs
it before it installs its SIGTERM handler and enters its task loop, so it covers the whole time
in which that handler can fire.

The rule it sets: **no traceback from a worker's normal end.** Ray ends a worker with SIGTERM,
and the handler raises ``SystemExit``. When the signal lands while a weakref or
garbage-collector callback runs, Python cannot raise it there. It prints it as a traceback
instead ("Exception ignored in ..."), and Ray forwards that to the search's terminal. The
worker is exiting anyway, so ``quiet_exit_hook`` drops exactly those and reports every other
unraisable error as usual.
"""

from __future__ import annotations

import sys

__all__ = ["quiet_exit_hook", "setup_worker"]


def quiet_exit_hook(unraisable: sys.UnraisableHookArgs) -> None:
    """``sys.unraisablehook``: drop a ``SystemExit`` or ``KeyboardInterrupt`` that could not be
    raised, and hand every other exception to Python's default hook."""
    if issubclass(unraisable.exc_type, (SystemExit, KeyboardInterrupt)):
        return
    sys.__unraisablehook__(unraisable)


def setup_worker() -> None:
    """Ray's ``worker_process_setup_hook`` for a search: install ``quiet_exit_hook``."""
    sys.unraisablehook = quiet_exit_hook
