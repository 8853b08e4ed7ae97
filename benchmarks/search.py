"""The default search, measured: wall time, trials, best result, length solved, compute saved.

Run: ``.venv/bin/python benchmarks/search.py`` (the default ``make run`` search, ~15 min on 2
cores); options after ``--`` go to ``search/run.py``, e.g.
``benchmarks/search.py -- --time-budget 120 --num-samples 8`` or ``-- --smoke-test``.

Prints one JSON line per measurement, ``{"benchmark": "search", "metric", "value", "unit"}``:

- ``wall_s``: the whole command, Ray start and the final table included;
- ``trials``: trials run; ``completed`` / ``stopped_asha`` / ``pruned_nan`` / ``error``;
- ``best_bit_errors``: lowest evaluation bit errors per sequence of the best-ranked trial;
- ``max_length_solved``: the largest L such that the best trial's last checkpoint has under
  ``--solved-below`` (0.1) bit errors per sequence at every exact length 1..L (copy lengths;
  the task's size for other tasks), on a fixed seeded batch of 64 sequences per length;
- ``trial_iterations_run`` vs ``trial_iterations_full``: reports the trials made vs the same
  trials each run to ``--max-iterations``; ``compute_saved`` = 1 - run / full, the share of
  trial-iterations that ASHA, NaN pruning and early solving spared.

``--compare asha,pbt`` runs the same search once per ``--scheduler`` instead, at an equal
budget in training sequences (the same ``--num-samples`` x ``--max-iterations`` x
``--report-sequences``, not the same wall time: the machine may be shared), e.g.
``benchmarks/search.py --compare asha,pbt -- --num-samples 6 --max-iterations 8
--time-budget 330 --perturbation-interval 2`` (ASHA ignores the interval). Its lines add
``"scheduler"``: ``wall_s``, ``trials``, ``best_objective`` (the best-ranked trial's lowest
objective), ``trials_solved`` (trials whose final checkpoint scores under
``SOLVED_BIT_ERRORS``, 0.1 bit errors per sequence, at the target length; PBT's exploited
trials share the weights they copied, so theirs are not independent),
``sequences_budget`` and ``sequences_trained`` (reports actually made, rows of the trials'
``progress.csv``, times ``--report-sequences``: ASHA stops trials early, PBT copies work).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
# This file is named search.py: drop its folder from the path so `search` is the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_ROOT))

import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from ntm.cli import guarded  # noqa: E402
from ntm.tasks import SOLVED_BIT_ERRORS  # noqa: E402
from ntm.trainer import Trainer  # noqa: E402
from search.launch.cli import parse_search_args  # noqa: E402
from search.launch.config import SearchConfig  # noqa: E402
from search.launch.results import status_counts  # noqa: E402
from search.space.load import default_space_path  # noqa: E402
from search.trial.experiment_files import RESULTS_CSV  # noqa: E402
from search.trial.trainable import CHECKPOINT_FILE  # noqa: E402


def emit(metric: str, value: Any, unit: str = "", **extra: str) -> None:
    line = {"benchmark": "search", **extra, "metric": metric, "value": value, "unit": unit}
    print(json.dumps(line), flush=True)


def max_length_solved(checkpoint: str, *, below: float, max_size: int) -> int:
    """Largest L with bit errors/seq < ``below`` at every exact size 1..L (0 if size 1 fails)."""
    trainer = Trainer.from_checkpoint(Path(checkpoint) / CHECKPOINT_FILE, device="cpu", threads=1)
    solved = 0
    for size in range(1, max_size + 1):
        if trainer.evaluate(size=size, batch_size=64)["bit_errors"] >= below:
            break
        solved = size
    return solved


def run_search(run_args: list[str]) -> tuple[SearchConfig, pd.DataFrame | None, float]:
    """Run ``search/run.py RUN_ARGS`` as `make run` runs it (its own process, its output
    shown as it goes); its config, results table (None if it failed) and wall time."""
    cfg = parse_search_args(run_args)
    command = [sys.executable, str(_ROOT / "search" / "run.py"), *run_args]
    command += ["--experiment", str(cfg.experiment), "--storage-path", cfg.storage_path]
    start = time.perf_counter()
    done = subprocess.run(command, stdout=sys.stderr, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(f"benchmarks/search.py: the search exited {done.returncode}", file=sys.stderr)
        return cfg, None, wall
    return cfg, pd.read_csv(f"{cfg.experiment_path}/{RESULTS_CSV}", dtype={"trial_id": str}), wall


def short_copy_space(max_length: int, directory: str) -> str:
    """``search/spaces/copy.yaml`` on copy lengths 1..max_length (without ``staged``), written
    to ``directory``."""
    space = yaml.safe_load(default_space_path("copy").read_text())
    space["task_params"]["max_length"] = max_length
    params = space["params"]
    params["curriculum"]["choice"].remove("staged")
    del params["stages"]
    path = Path(directory) / f"copy_1_{max_length}.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return str(path)


def compare(schedulers: list[str], run_args: list[str], copy_max_length: int | None) -> int:
    """The same search (same budget in sequences) once per scheduler; see the docstring."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if copy_max_length is not None:
        run_args = [*run_args, "--space", short_copy_space(copy_max_length, tempfile.mkdtemp())]
    for name in schedulers:
        args = [*run_args, "--scheduler", name, "--experiment", f"compare-{name}-{stamp}"]
        cfg, table, wall = run_search(args)
        if table is None:
            return 1
        reports = sum(
            len(pd.read_csv(path)) for path in Path(cfg.experiment_path).glob("*/progress.csv")
        )
        budget = cfg.num_samples * cfg.max_iterations * cfg.report_sequences
        emit("wall_s", round(wall, 1), "s", scheduler=name)
        emit("trials", len(table), scheduler=name)
        emit("best_objective", float(table.iloc[0]["lowest_objective"]), "bits/seq", scheduler=name)
        solved = int((table["last_objective"] < SOLVED_BIT_ERRORS).sum())
        emit("trials_solved", solved, scheduler=name)
        emit("sequences_budget", budget, "sequences", scheduler=name)
        emit("sequences_trained", reports * cfg.report_sequences, "sequences", scheduler=name)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--solved-below", type=float, default=SOLVED_BIT_ERRORS, help="bit errors/seq")
    p.add_argument("--max-size", type=int, default=20, help="largest exact size evaluated")
    p.add_argument("--compare", help="schedulers to compare at an equal budget, e.g. asha,pbt")
    p.add_argument("--copy-max-length", type=int, help="--compare on copy lengths 1..L")
    p.add_argument("run_args", nargs="*", help="arguments for search/run.py (after --)")
    args = p.parse_args(argv)
    if args.compare:
        return compare(args.compare.split(","), args.run_args, args.copy_max_length)
    cfg, table, wall = run_search(args.run_args)
    if table is None:
        return 1
    emit("wall_s", round(wall, 1), "s")
    emit("trials", len(table))
    for status, count in status_counts(table).items():
        emit(status, count)
    if table.empty:
        return 1
    best = table.iloc[0]
    emit("best_bit_errors", float(best["lowest_objective"]), "bits/seq")
    emit("best_trial", str(best["trial_id"]))
    if isinstance(best["checkpoint"], str):
        solved = max_length_solved(
            best["checkpoint"], below=args.solved_below, max_size=args.max_size
        )
        emit("max_length_solved", solved)
    ran = int(table["iterations"].sum())
    full = len(table) * cfg.max_iterations
    emit("trial_iterations_run", ran)
    emit("trial_iterations_full", full)
    emit("compute_saved", round(1 - ran / full, 3) if full else math.nan, "fraction")
    return 0


if __name__ == "__main__":
    sys.exit(guarded("python benchmarks/search.py", main))
