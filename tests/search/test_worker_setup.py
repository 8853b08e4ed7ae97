"""search.cluster.worker: a Ray worker's SystemExit from Ray's own SIGTERM handler, landing in
a weakref callback, prints nothing; every other unraisable error still prints.

Both tests run a real interpreter; the second runs real Ray workers started by ``init_ray``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from search.cluster.env import LOOPBACK_ENV
from tests.search.mlflow_helpers import ROOT

UNRAISABLE = textwrap.dedent(
    """
    import os, signal, sys, weakref

    class Thing:
        pass

    def unraisable(error):
        # an exception raised in a weakref callback cannot propagate: Python hands it to
        # sys.unraisablehook ("Exception ignored in ...")
        def callback(ref):
            if error is None:  # the real case: a SIGTERM whose handler raises SystemExit
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):  # Python runs the handler here, inside the callback
                    pass
            else:
                raise error
        thing = Thing()
        keep = weakref.ref(thing, callback)
        del thing
        return keep
    """
)

PLAIN = UNRAISABLE + textwrap.dedent(
    """
    from search.cluster.worker import setup_worker

    if sys.argv[1] == "hooked":
        setup_worker()
    unraisable(SystemExit("The process receives a SIGTERM."))
    unraisable(KeyboardInterrupt())
    unraisable(ValueError("a real error"))
    print("still running")
    """
)

RAY = UNRAISABLE + textwrap.dedent(
    """
    import time
    import ray
    from search.cluster.nodes import init_ray

    @ray.remote
    class Worker:
        def end_in_a_callback(self):
            unraisable(None)
            unraisable(ValueError("a real error"))
            return "handled"

    if sys.argv[1] == "hooked":
        init_ray(None)  # the search's start: every worker runs setup_worker first
    else:
        ray.init(address="local", num_cpus=1, include_dashboard=False,
                 _node_ip_address="127.0.0.1")
    print(ray.get(Worker.remote().end_in_a_callback.remote()), flush=True)
    time.sleep(3)  # Ray forwards the worker's stderr to this driver
    ray.shutdown()
    """
)


def run(script: str, mode: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, LOOPBACK_ENV: "0", "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", script, mode]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_an_exit_that_cannot_be_raised_prints_nothing_and_other_errors_still_print() -> None:
    plain, hooked = run(PLAIN, "plain"), run(PLAIN, "hooked")
    # Without the hook Python prints all three as tracebacks ...
    assert plain.returncode == 0 and "still running" in plain.stdout
    assert plain.stderr.count("Traceback") == 3 and "SIGTERM" in plain.stderr
    # ... with it, only the real error is printed.
    assert hooked.returncode == 0 and "still running" in hooked.stdout
    assert hooked.stderr.count("Traceback") == 1 and "ValueError: a real error" in hooked.stderr
    assert "SIGTERM" not in hooked.stderr and "KeyboardInterrupt" not in hooked.stderr


def test_every_worker_of_a_search_drops_the_exit_of_ray_s_sigterm_handler() -> None:
    # A Ray worker sends itself SIGTERM inside a weakref callback: Ray's handler raises
    # SystemExit there, as when Ray ends a trial's worker at a search's end.
    plain, hooked = run(RAY, "plain"), run(RAY, "hooked")
    assert plain.returncode == 0 and "handled" in plain.stdout, plain.stderr[-3000:]
    assert hooked.returncode == 0 and "handled" in hooked.stdout, hooked.stderr[-3000:]
    # Without init_ray's setup hook the worker's traceback reaches the driver's terminal ...
    assert "sigterm_handler" in plain.stderr and "SystemExit" in plain.stderr, plain.stderr[-3000:]
    assert "ValueError: a real error" in plain.stderr
    # ... with it, only the real error does.
    assert "sigterm_handler" not in hooked.stderr, hooked.stderr[-3000:]
    assert "SystemExit" not in hooked.stderr, hooked.stderr[-3000:]
    assert "ValueError: a real error" in hooked.stderr, hooked.stderr[-3000:]
