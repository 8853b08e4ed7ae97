#!/usr/bin/env python3
"""Search NTM hyperparameters: the entry point, ``python search/run.py --help``.

Read top-down: Ray's environment is set first (before anything can import Ray), then the
command line becomes a ``SearchConfig`` (``search.launch.cli``), and ``run_search`` runs
the search (``search.launch.search``). Exit code: 0, 1 when no trial reported or every trial
errored, 2 for bad input (one line, nothing written), 130 after Ctrl-C or SIGTERM (the
results so far saved; ``--resume`` continues).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a script (`python search/run.py`): the repository root goes on the path, and
# this file's own folder comes off it, so that search/*.py never shadow other modules
# (Ray passes the driver's path on to its workers).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from search.cluster.env import set_ray_env  # noqa: E402  (imports nothing but os)

set_ray_env(sys.argv[1:])  # the first thing: before anything below imports Ray

from ntm.cli import guarded  # noqa: E402
from search.cluster.check import require_cluster  # noqa: E402
from search.launch.cli import PROG, parse_search_args  # noqa: E402
from search.launch.results import reported  # noqa: E402
from search.launch.search import run_search  # noqa: E402
from search.trial.status import ERROR  # noqa: E402

__all__ = ["EXIT_INTERRUPTED", "main"]

EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: the search ended early, its results saved


def main(argv: list[str] | None = None) -> int:
    cfg = parse_search_args(argv)
    if cfg.address:  # before anything is written: no cluster to join is a usage error
        require_cluster(cfg.address)
    table, interrupted = run_search(cfg)
    if interrupted is not None:
        return EXIT_INTERRUPTED
    return 1 if not reported(table) or (table["status"] == ERROR).all() else 0


def cli() -> int:
    """The console script (``pyproject.toml``): ``main`` with one-line errors and exit codes."""
    return guarded(PROG, main)


if __name__ == "__main__":
    sys.exit(cli())
