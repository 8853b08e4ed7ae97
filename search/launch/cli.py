"""Search NTM hyperparameters: Ray Tune trials proposed by Optuna (TPE), stopped by ASHA.

    python search/run.py                                # copy, default space, ~15 min, 2 cores
    python search/run.py --task repeat_copy --time-budget 3600
    python search/run.py --smoke-test                   # a complete tiny search, < 1 minute
    python search/run.py --resume --experiment NAME     # continue after Ctrl-C or kill -9
    python search/run.py --address auto                 # on the cluster of `ray up cluster.yaml`

Ray runs locally by default (started in-process, every server on 127.0.0.1, no dashboard,
all CPUs); --address auto, or RAY_ADDRESS, joins a running cluster instead. Each trial
reports every --report-sequences training sequences (one ASHA iteration), evaluated at the
task's target difficulty: the trainer's `objective` (bit errors per sequence; the gap to the
Bayes optimum for N-grams) is minimised.

Fault injection (tests, demos): --inject-nan-at-step N makes the first --inject-nan-trials K
trials (default 1) multiply their loss by NaN at step N, so their gradients turn non-finite
for real; such a trial ends with status pruned_nan at its next report, Optuna records it
as PRUNED, and the search goes on.

A space file's `schedule:` sets this task's defaults of --report-sequences, --max-iterations,
--grace-period, --curriculum-grace, --reduction-factor and --trial-seconds (the shipped
repeat_copy, ngrams and priority_sort spaces do: their trials learn late); options given win.

At the end a table of the top trials and the counts of completed, stopped_asha, pruned_nan
and error trials are printed, and the full table is saved as results.csv in the experiment
directory (STORAGE_PATH/EXPERIMENT). Bad input exits with code 2 before any trial starts.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from ntm.cli import Parser, add_fields, field_values, given_options
from ntm.tasks import TASKS
from search.cluster.storage import resolve_storage
from search.launch.config import SearchConfig
from search.space.load import search_space_path, space_schedule
from search.tracking.client import DEFAULT_TRACKING_URI
from search.trial.keys import TrialSettings

__all__ = ["PROG", "build_parser", "config_from_args", "parse_search_args"]

PROG = "python search/run.py"
# Set by hand below: ``tracking`` is ``--no-tracking``; ``address`` falls back to RAY_ADDRESS.
_BY_HAND = ("tracking",)
HELP = {
    "task": f"{' | '.join(sorted(TASKS))}; None: the space's task (copy without --space)",
    "space": "search space YAML; None: search/spaces/TASK.yaml",
    "num_samples": "trials at most",
    "seed": "Optuna sampler and trial seed",
    "time_budget": "seconds for the whole search",
    "max_iterations": "reports per trial at most (or the space's schedule)",
    "report_sequences": "training sequences per report (one ASHA iteration; or the space's "
    "schedule)",
    "trial_seconds": "training-time cap of one trial, 0 = none (or the space's schedule)",
    "stop_bit_errors": "a trial at its target level stops, completed, once its objective "
    f"stays below this ({TrialSettings.solved_reports} reports in a row)",
    "eval_batch": "evaluation sequences",
    "grace_period": "ASHA grace period in iterations; None: the space's schedule, else 10%% "
    "of --max-iterations (1 to 10)",
    "curriculum_grace": "iterations during which ASHA does not judge a trial whose curriculum "
    "is still below its target level; None: 3 x the grace period",
    "reduction_factor": "ASHA reduction factor",
    "cpus_per_trial": "CPUs (and torch threads) per trial",
    "gpus_per_trial": "fractional, e.g. 0.25",
    "address": "join a Ray cluster ('auto'); None: RAY_ADDRESS, else a local Ray",
    "experiment": "experiment name; None: TASK-YYYYmmdd-HHMMSS",
    "storage_path": "local directory or shared URI (s3://...) for results and checkpoints",
    "shared_storage": "declare a local --storage-path shared by every node (NFS)",
    "resume": "continue --experiment NAME",
    "checkpoint_seconds": "checkpoint a trial at most this often (and at its last report)",
    "tracking_uri": f"MLflow URI; None: MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI}",
    "top": "rows of the final table",
    "smoke_test": "a complete tiny search (< 1 min)",
    "inject_nan_at_step": "fault injection: NaN loss at step N",
    "inject_nan_trials": "how many of the first trials get the NaN",
    "max_concurrent": "trials running at once at most (Ray's max_concurrent_trials); None: "
    "with --address the cluster's CPUs / --cpus-per-trial, else as many as fit",
    "confirm_top": "at the end, re-train the K best configurations with --confirm-seeds fresh "
    "seeds each and rank by their mean and worst objective (0: no confirmation; with --resume "
    "of a finished experiment: a separate step)",
    "confirm_seeds": "fresh seeds per confirmed configuration",
    "scheduler": "asha: Optuna's TPE proposes trials, ASHA stops the worst early; pbt | pb2: "
    "population-based training of --num-samples trials that explores lr and the curriculum's "
    "pace parameters (no Optuna study; README 'Population-based training')",
    "perturbation_interval": "pbt/pb2: iterations between exploit/explore steps; None: 10%% of "
    "--max-iterations (1 to 10)",
    "optuna_storage": "Optuna study database URI (the study is named after --experiment); "
    "None: sqlite:///STORAGE_PATH/EXPERIMENT/optuna.db (in memory for an s3:// --storage-path)",
}
# The smoke test: tiny and quick, for each of these not given on the command line.
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
    p = Parser(prog=PROG, description=__doc__)
    add_fields(p.add_argument_group("search (SearchConfig)"), SearchConfig, HELP, skip=_BY_HAND)
    p.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    return p


def parse_search_args(argv: Sequence[str] | None = None) -> SearchConfig:
    """The ``SearchConfig`` of a command line (``argv`` None: ``sys.argv``)."""
    parser = build_parser()
    return config_from_args(parser.parse_args(argv), given=given_options(parser, argv))


def _schedule(space: str, values: dict[str, Any], given: Collection[str]) -> dict[str, Any]:
    """The space's ``schedule`` for the options not ``given``; its grace period at most the
    iterations (a --max-iterations given below it shortens it)."""
    schedule = {k: v for k, v in space_schedule(space).items() if k not in given}
    if "grace_period" in schedule:
        most = schedule.get("max_iterations", values["max_iterations"])
        schedule["grace_period"] = min(schedule["grace_period"], most)
    return schedule


def config_from_args(a: argparse.Namespace, *, given: Collection[str] = ()) -> SearchConfig:
    """The ``SearchConfig`` of parsed options: for the options not ``given`` on the command
    line (an option given always wins, also at its default value), the smoke test's defaults
    or else the space's ``schedule`` (``search.space.format``); the experiment name,
    ``RAY_ADDRESS``, and the storage path resolved (``search.cluster.storage``)."""
    values = field_values(a, SearchConfig, skip=_BY_HAND)
    if a.smoke_test:
        values.update({k: v for k, v in _SMOKE_DEFAULTS.items() if k not in given})
    elif a.space or a.task is None or a.task in TASKS:  # else SearchConfig names a bad --task
        values.update(_schedule(search_space_path(a.space, a.task), values, given))
    values["address"] = a.address or os.environ.get("RAY_ADDRESS") or None
    values["tracking"] = not a.no_tracking
    values["storage_path"] = resolve_storage(a.storage_path)
    if not values["experiment"]:
        prefix = "smoke" if a.smoke_test else a.task or Path(a.space or "copy").stem
        values["experiment"] = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    return SearchConfig(**values)
