"""search.trial.trainable.quiet_exit_hook in a real interpreter: the SystemExit of Ray's
SIGTERM handler, landing in a weakref callback, prints nothing; other errors still print."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.search.mlflow_helpers import ROOT

SCRIPT = textwrap.dedent(
    """
    import sys, weakref
    from search.trial.trainable import quiet_exit_hook

    class Thing:
        pass

    def unraisable(error):
        # an exception raised in a weakref callback cannot propagate: Python hands it to
        # sys.unraisablehook ("Exception ignored in ...")
        def callback(ref):
            raise error
        thing = Thing()
        keep = weakref.ref(thing, callback)
        del thing
        return keep

    if sys.argv[1] == "hooked":
        sys.unraisablehook = quiet_exit_hook
    unraisable(SystemExit("The process receives a SIGTERM."))
    unraisable(KeyboardInterrupt())
    unraisable(ValueError("a real error"))
    print("still running")
    """
)


def run(mode: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", SCRIPT, mode]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_an_exit_that_cannot_be_raised_prints_nothing_and_other_errors_still_print() -> None:
    plain, hooked = run("plain"), run("hooked")
    # Without the hook Python prints all three as tracebacks (what reached the search's
    # terminal from a worker that Ray ended) ...
    assert plain.returncode == 0 and "still running" in plain.stdout
    assert plain.stderr.count("Traceback") == 3 and "SIGTERM" in plain.stderr
    # ... with it, only the real error is printed.
    assert hooked.returncode == 0 and "still running" in hooked.stdout
    assert hooked.stderr.count("Traceback") == 1 and "ValueError: a real error" in hooked.stderr
    assert "SIGTERM" not in hooked.stderr and "KeyboardInterrupt" not in hooked.stderr
