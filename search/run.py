#!/usr/bin/env python3
"""Search NTM hyperparameters: the script entry point, ``python search/run.py --help``.

The command line and what a search does are described in ``search/cli.py`` (the ``--help``
text); ``search.config`` holds ``SearchConfig``, ``search.driver`` runs one search (Ray,
checks, results table), ``search.tuner`` builds the Ray Tune ``Tuner``. Their public names are
re-exported here, so that ``from search.run import main`` & co. keep working.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a script (`python search/run.py`): the repository root goes on the path, and
# this file's own folder comes off it, so that search/space.py & co. never shadow other modules
# (Ray passes the driver's path on to its workers).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from ntm.cli import guarded  # noqa: E402
from search.cli import PROG, build_parser, config_from_args  # noqa: E402
from search.cluster_check import require_cluster  # noqa: E402
from search.config import (  # noqa: E402
    SMOKE_MODEL,
    SMOKE_TASK_PARAMS,
    SearchConfig,
    load_search_space,
)
from search.driver import (  # noqa: E402
    LOOPBACK_ENV,
    NEW_OUTPUT_ENV,
    check_experiment,
    check_resources,
    finish,
    init_ray,
    run_search,
    table_from_grid,
    write_csv,
)
from search.tuner import (  # noqa: E402
    build_tuner,
    checkpoints_to_keep,
    make_reporter,
    make_searcher,
    make_tracking,
    trainable_with_resources,
)

__all__ = [
    "LOOPBACK_ENV",
    "NEW_OUTPUT_ENV",
    "PROG",
    "SMOKE_MODEL",
    "SMOKE_TASK_PARAMS",
    "SearchConfig",
    "build_parser",
    "build_tuner",
    "check_experiment",
    "check_resources",
    "checkpoints_to_keep",
    "config_from_args",
    "finish",
    "init_ray",
    "load_search_space",
    "main",
    "make_reporter",
    "make_searcher",
    "make_tracking",
    "run_search",
    "table_from_grid",
    "trainable_with_resources",
    "write_csv",
]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if cfg.address:  # before anything is written: no cluster to join is a usage error
        require_cluster(cfg.address)
    table = run_search(cfg)
    errored = (table["status"] == "error").all() if not table.empty else True
    return 1 if errored else 0


if __name__ == "__main__":
    sys.exit(guarded(PROG, main))
