"""The hard tasks against the paper's bars: train a space's start point once per seed.

    python benchmarks/tasks.py --task associative_recall --seeds 3 --budget 100000
    python benchmarks/tasks.py --task associative_recall --seeds 3 --budget 100000 --model lstm
    python benchmarks/tasks.py --smoke-test

Each seed trains the first ``start_points`` entry of ``search/spaces/TASK.yaml`` (the
recorded recipe; ``--start-point N`` takes the N-th, counted from 0; ``--set lr=3e-3`` overrides
one of its parameters) on one core (torch
threads = 1) for ``--budget`` training sequences, with an evaluation of the trainer's fixed
batch at the target difficulty every ``--eval-sequences`` (the start point as a trial config:
``search.space.load.start_point``). ``--model lstm`` trains the paper's LSTM baseline instead
(the same task, optimiser and curriculum; the network size of Graves et al. 2014, table 3,
unless ``--lstm-size``/``--lstm-layers`` say otherwise).

A run *reaches the bar* at the first evaluation whose scores pass ``BARS[task]``
(``ntm/tasks/bars.py``) while the curriculum is at its target level (the issue's bars: bit
errors < 0.1 per sequence, repeat copy also marker right on >= 99 %; N-grams within 2 bits of
the Bayes optimum; priority sort < 1 bit error). It *relapses* if a later evaluation's
objective exceeds ``RELAPSE[task]``. At the end the run is scored on ``--final-batch`` held
sequences at the target (seeded apart from training) and at the generalisation sizes of
``GENERALISATION``.

Prints one JSON line per run, then one summary line (``"summary": true``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

# Run as a script, this folder comes first on the path, and its search.py would shadow the
# `search` package: drop it (as benchmarks/search.py does for itself).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import torch  # noqa: E402

from ntm import evaluation  # noqa: E402
from ntm.baseline import Model  # noqa: E402
from ntm.cli import UsageError, parse_key_values  # noqa: E402
from ntm.events import NonFiniteError  # noqa: E402
from ntm.report import Report  # noqa: E402
from ntm.tasks import BARS, TASKS, Task  # noqa: E402
from ntm.train_config import RunConfig  # noqa: E402
from ntm.trainer import Trainer  # noqa: E402
from search.space.load import start_point  # noqa: E402
from search.trial.config import run_config_from_trial  # noqa: E402

_HELD_SEED = 20_141_020  # seeds the held final batches, apart from training and eval data


# A run that reached the bar relapses when a later evaluation's objective exceeds this.
RELAPSE = {
    "copy": 1.0,
    "repeat_copy": 1.0,
    "associative_recall": 1.0,
    "ngrams": 4.0,
    "priority_sort": 4.0,
}
# (label, size, repeat copy's repeats): exact sizes scored at the end of each run.
GENERALISATION: dict[str, list[tuple[str, int, int | None]]] = {
    "copy": [("length 20", 20, None), ("length 50", 50, None), ("length 100", 100, None)],
    "repeat_copy": [
        ("length 10, repeats 10", 10, 10),
        ("length 10, repeats 20", 10, 20),
        ("length 20, repeats 10", 20, 10),
    ],
    "associative_recall": [(f"{k} items", k, None) for k in (6, 8, 10, 12, 15)],
    "ngrams": [],  # one difficulty: the held batch at the target is the whole story
    "priority_sort": [("20 -> 16", 20, None), ("30 -> 24", 30, None)],
}
# The paper's LSTM baselines (Graves et al. 2014, table 3): (layers, units per layer).
PAPER_LSTM = {
    "copy": (3, 256),
    "repeat_copy": (3, 512),
    "associative_recall": (3, 256),
    "ngrams": (3, 128),
    "priority_sort": (3, 128),
}


def start_point_config(task: str, *, seed: int, opts: dict[str, Any]) -> RunConfig:
    """The run config of ``start_point(task)`` for one seed of the benchmark.

    ``opts``: ``budget`` and ``eval_sequences`` (training sequences), ``start_point`` (its
    index), ``set`` (parameters that override the start point's), ``model`` (``ntm``/``lstm``),
    ``lstm_layers``/``lstm_size`` and ``eval_batch``.
    """
    trial = start_point(task, opts.get("start_point", 0))
    trial.update(opts.get("set", {}))
    if opts["model"] == "lstm":
        trial.update(model="lstm", controller="lstm", controller_layers=opts["lstm_layers"],
                     controller_size=opts["lstm_size"])  # fmt: skip
        trial.pop("activation", None)  # (a feed-forward recipe's)
    per_report = opts["eval_sequences"]
    trial.update(
        seed=seed,
        threads=1,
        report_sequences=per_report,
        max_reports=max(1, math.ceil(opts["budget"] / per_report)),
        eval_batch=opts["eval_batch"],
    )
    return run_config_from_trial(trial)


def held_scores(
    model: Model, task: Task, n: int, size: int | None = None, repeats: int | None = None
) -> dict[str, float]:
    """``task_scores`` on ``n`` held sequences at the target (or an exact size)."""
    gen = torch.Generator().manual_seed(_HELD_SEED + (size or 0))
    scores = evaluation.held_scores(model, task, n, gen, size=size, repeats=repeats)
    return {k: round(v, 4) for k, v in scores.items()}


def one_run(args: tuple[str, int, dict[str, Any]]) -> dict[str, Any]:
    """Train one seed; the JSON-able record of what it reached."""
    task_name, seed, opts = args
    trainer = Trainer(start_point_config(task_name, seed=seed, opts=opts))
    out: dict[str, Any] = {"task": task_name, "model": opts["model"], "seed": seed}
    out["start_point"] = opts.get("start_point", 0)
    if opts.get("set"):
        out["set"] = opts["set"]
    out.update(bar_sequences=None, bar_seconds=None, relapsed=False, nonfinite=False)
    curve: list[tuple[int, float]] = []
    start = time.perf_counter()

    def on_report(r: Report) -> bool:
        if r.objective is None:
            return False
        scores = {"objective": r.objective, **(r.eval_scores or {})}
        curve.append((r.sequences, round(r.objective, 3)))
        extra = " ".join(f"{k} {v:.3g}" for k, v in (r.eval_scores or {}).items())
        print(f"[{task_name} seed {seed}] {r.sequences} sequences, level {r.level}: "
              f"objective {r.objective:.4g} {extra}", file=sys.stderr, flush=True)  # fmt: skip
        if out["bar_sequences"] is None:
            if trainer.scheduler.at_target and BARS[task_name].passed(scores):
                out["bar_sequences"] = r.sequences
                out["bar_seconds"] = round(time.perf_counter() - start, 1)
        elif r.objective > RELAPSE[task_name]:
            out["relapsed"] = True
        return False

    try:
        trainer.run(on_report)
    except NonFiniteError as event:
        out.update(nonfinite=True, nonfinite_step=event.step)
    out.update(sequences=trainer.sequences, seconds=round(time.perf_counter() - start, 1))
    out["final_level"] = trainer.scheduler.level
    model, task = trainer.model.eval(), trainer.task
    out["final"] = held_scores(model, task, opts["final_batch"])
    out["final_objective"] = out["final"]["objective"]
    out["generalisation"] = {
        label: held_scores(model, task, opts["gen_batch"], size, repeats)
        for label, size, repeats in GENERALISATION[task_name]
    }
    out["objective_curve"] = curve
    out["parameters"] = sum(p.numel() for p in model.parameters())
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    reached = [r for r in runs if r["bar_sequences"] is not None]

    def med(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    return {
        "summary": True,
        "task": runs[0]["task"],
        "model": runs[0]["model"],
        "seeds": len(runs),
        "reached_bar": len(reached),
        "median_bar_sequences": med([r["bar_sequences"] for r in reached]),
        "median_bar_seconds": med([r["bar_seconds"] for r in reached]),
        "relapsed": sum(r["relapsed"] for r in reached),
        "nonfinite": sum(r["nonfinite"] for r in runs),
        "median_final_objective": med([r["final_objective"] for r in runs]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", default="associative_recall", choices=sorted(TASKS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--budget", type=int, default=100_000, help="training sequences per seed")
    p.add_argument("--start-point", type=int, default=0, help="which start point of the space")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter of the start point (repeatable; YAML value)",
    )
    p.add_argument("--model", default="ntm", choices=("ntm", "lstm"))
    p.add_argument("--lstm-layers", type=int, help="baseline layers (default: the paper's)")
    p.add_argument("--lstm-size", type=int, help="baseline units per layer (default: paper's)")
    p.add_argument("--eval-sequences", type=int, default=2000, help="sequences per evaluation")
    p.add_argument("--eval-batch", type=int, default=64, help="sequences in each evaluation")
    p.add_argument("--final-batch", type=int, default=1000, help="held sequences at the end")
    p.add_argument("--gen-batch", type=int, default=100, help="sequences per generalisation size")
    p.add_argument("--workers", type=int, default=1, help="parallel seeds, one core each")
    p.add_argument("--smoke-test", action="store_true", help="1 seed, tiny budget and batches")
    a = p.parse_args(argv)
    for name in ("seeds", "budget", "eval_sequences", "eval_batch", "final_batch", "workers"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, but got {getattr(a, name)}")
    try:
        overrides = parse_key_values(a.set, flag="--set")
    except UsageError as err:
        p.error(str(err))
    layers, size = PAPER_LSTM[a.task]
    opts = {
        "start_point": a.start_point,
        "set": overrides,
        "model": a.model,
        "lstm_layers": a.lstm_layers or layers,
        "lstm_size": a.lstm_size or size,
        "budget": a.budget,
        "eval_sequences": a.eval_sequences,
        "eval_batch": a.eval_batch,
        "final_batch": a.final_batch,
        "gen_batch": a.gen_batch,
    }
    try:
        start_point_config(a.task, seed=a.first_seed, opts=opts)  # every bad value, up front
    except (ValueError, TypeError) as err:
        p.error(str(err))
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    if a.smoke_test:
        seeds = range(a.first_seed, a.first_seed + 1)
        opts.update(budget=64, eval_sequences=32, eval_batch=4, final_batch=4, gen_batch=2)
    runs = []
    with ProcessPoolExecutor(max_workers=a.workers) as pool:
        for run in pool.map(one_run, [(a.task, seed, opts) for seed in seeds]):
            print(json.dumps(run), flush=True)
            runs.append(run)
    print(json.dumps(summarise(runs)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
