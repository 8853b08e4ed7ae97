"""Search NTM hyperparameters: Ray Tune trials proposed by Optuna (TPE), stopped by ASHA.

    python search/run.py                                # copy, default space, ~15 min, 2 cores
    python search/run.py --task repeat_copy --time-budget 3600
    python search/run.py --smoke-test                   # a complete tiny search, < 1 minute
    python search/run.py --resume --experiment NAME     # continue after Ctrl-C or kill -9
    python search/run.py --address auto                 # on the cluster of `ray up cluster.yaml`

Ray runs locally by default (started in-process, every server on 127.0.0.1, no dashboard,
all CPUs); --address auto, or RAY_ADDRESS, joins a running cluster instead. Each trial
reports every --report-sequences training sequences (one ASHA iteration), evaluating bit
errors per sequence at the task's target difficulty: that is the `objective` minimised.

Fault injection (tests, demos): --inject-nan-at-step N makes the first --inject-nan-trials K
trials (default 1) multiply their loss by NaN at step N, so their gradients turn non-finite
for real; such a trial ends with status pruned_nan at its next report, Optuna records it
as PRUNED, and the search goes on.

At the end a table of the top trials and the counts of completed, stopped_asha, pruned_nan
and error trials are printed, and the full table is saved as results.csv in the experiment
directory (STORAGE_PATH/EXPERIMENT). Bad input exits with code 2 before any trial starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from ntm.cli import Parser
from ntm.tasks import TASKS
from search.config import SearchConfig

__all__ = ["PROG", "build_parser", "config_from_args"]

PROG = "python search/run.py"
# Fields set from the option of the same name as they are; the others are derived below.
_DERIVED = ("address", "tracking")
# The smoke test: tiny and quick unless given explicitly.
_SMOKE_DEFAULTS: dict[str, Any] = {
    "num_samples": 4,
    "time_budget": 60.0,
    "max_iterations": 4,
    "report_sequences": 64,
    "trial_seconds": 20.0,
    "eval_batch": 16,
    "checkpoint_seconds": 0.0,
}


def build_parser() -> argparse.ArgumentParser:
    d = SearchConfig()
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("what to search")
    g.add_argument("--task", default=None, help=f"{' | '.join(sorted(TASKS))} (default: copy)")
    g.add_argument("--space", help="search space YAML (default: search/spaces/TASK.yaml)")
    g.add_argument("--num-samples", type=int, default=d.num_samples, help="trials at most")
    g.add_argument("--seed", type=int, default=d.seed, help="Optuna sampler and trial seed")
    g = p.add_argument_group("budget and early stopping")
    g.add_argument(
        "--time-budget",
        type=float,
        default=d.time_budget,
        help="seconds for the whole search (default %(default)s)",
    )
    g.add_argument(
        "--max-iterations", type=int, default=d.max_iterations, help="reports per trial at most"
    )
    g.add_argument(
        "--report-sequences",
        type=int,
        default=d.report_sequences,
        help="training sequences per report (one ASHA iteration)",
    )
    g.add_argument(
        "--trial-seconds",
        type=float,
        default=d.trial_seconds,
        help="training-time cap of one trial, 0 = none (default %(default)s)",
    )
    g.add_argument(
        "--stop-bit-errors",
        type=float,
        default=d.stop_bit_errors,
        help="a trial at its target level stops, completed, below these eval bit errors/seq",
    )
    g.add_argument("--eval-batch", type=int, default=d.eval_batch, help="evaluation sequences")
    g.add_argument("--grace-period", type=int, help="ASHA grace period in iterations")
    g.add_argument("--reduction-factor", type=float, default=d.reduction_factor, help="ASHA")
    g = p.add_argument_group("resources")
    g.add_argument("--cpus-per-trial", type=float, default=d.cpus_per_trial)
    g.add_argument(
        "--gpus-per-trial", type=float, default=d.gpus_per_trial, help="fractional, e.g. 0.25"
    )
    g.add_argument("--address", help="join a Ray cluster ('auto'; default: RAY_ADDRESS or local)")
    g = p.add_argument_group("experiment")
    g.add_argument("--experiment", help="experiment name (default: TASK-YYYYmmdd-HHMMSS)")
    g.add_argument(
        "--storage-path",
        default=d.storage_path,
        help="local directory or shared URI (s3://...) for results and checkpoints",
    )
    g.add_argument(
        "--shared-storage",
        action="store_true",
        help="declare a local --storage-path shared by every node (NFS)",
    )
    g.add_argument("--resume", action="store_true", help="continue --experiment NAME")
    g.add_argument(
        "--checkpoint-seconds",
        type=float,
        default=d.checkpoint_seconds,
        help="checkpoint a trial at most this often (and at its last report)",
    )
    g.add_argument("--tracking-uri", help="MLflow URI (default: MLFLOW_TRACKING_URI or sqlite)")
    g.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    g.add_argument("--top", type=int, default=d.top, help="rows of the final table")
    g = p.add_argument_group("testing")
    g.add_argument("--smoke-test", action="store_true", help="a complete tiny search (< 1 min)")
    g.add_argument("--inject-nan-at-step", type=int, help="fault injection: NaN loss at step N")
    g.add_argument(
        "--inject-nan-trials",
        type=int,
        default=d.inject_nan_trials,
        help="how many of the first trials get the NaN (default 1)",
    )
    return p


def config_from_args(a: argparse.Namespace) -> SearchConfig:
    values: dict[str, Any] = {
        f.name: getattr(a, f.name)
        for f in dataclasses.fields(SearchConfig)
        if f.name not in _DERIVED
    }
    values["address"] = a.address or os.environ.get("RAY_ADDRESS") or None
    values["tracking"] = not a.no_tracking
    if a.smoke_test:  # tiny and quick unless given explicitly
        given = {k for k, v in vars(a).items() if v != build_parser().get_default(k)}
        values.update({k: v for k, v in _SMOKE_DEFAULTS.items() if k not in given})
    if not values["experiment"]:
        prefix = "smoke" if a.smoke_test else a.task or Path(a.space or "copy").stem
        values["experiment"] = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    return SearchConfig(**values)
