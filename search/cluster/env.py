"""Ray's environment switches, set before Ray is first imported (``search/run.py`` does it
first thing): this module imports nothing but ``os``, so an entry point can use it early.

``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps every Ray listener on 127.0.0.1 and lets
several nodes share one machine (Ray 2.60: ``_node_ip_address`` alone is not enough); a
search that joins a cluster (``--address`` or ``RAY_ADDRESS``) leaves it alone.
``RAY_AIR_NEW_OUTPUT=0`` selects Ray's table reporter, whose columns the search sets.
``RAY_worker_niceness=0``, for the local default too: Ray otherwise renices its workers,
the trials, to 15, and on a machine busy with other work a trial's worker then waited a
minute to start (benchmarks/RESULTS.md, "A search on a busy machine").
"""

from __future__ import annotations

import os
from collections.abc import Sequence

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
NEW_OUTPUT_ENV = "RAY_AIR_NEW_OUTPUT"
NICENESS_ENV = "RAY_worker_niceness"

__all__ = ["LOOPBACK_ENV", "NEW_OUTPUT_ENV", "NICENESS_ENV", "joins_cluster", "set_ray_env"]


def joins_cluster(argv: Sequence[str]) -> bool:
    """True when the command line (``--address``) or ``RAY_ADDRESS`` names a cluster to join."""
    flagged = any(a == "--address" or a.startswith("--address=") for a in argv)
    return flagged or bool(os.environ.get("RAY_ADDRESS"))


def set_ray_env(argv: Sequence[str]) -> None:
    """Loopback-only Ray and trials at the driver's priority unless joining a cluster, and
    the table reporter (all defaults: a variable already set wins)."""
    if not joins_cluster(argv):
        os.environ.setdefault(LOOPBACK_ENV, "0")
        os.environ.setdefault(NICENESS_ENV, "0")
    os.environ.setdefault(NEW_OUTPUT_ENV, "0")
