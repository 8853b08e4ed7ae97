"""Evaluate a checkpoint or exported model at several sizes, optionally writing plots.

    python -m ntm.evaluate run.pt --lengths 10,20,50,100 --json --plots plots/

For copy and repeat copy a size is the sequence length (repeat copy: ``--repeats`` copies,
default the task's ``max_repeats``); for associative recall the number of items; for priority
sort the number of inputs; for N-grams the sequence length. Each row holds the cost, the bit
errors, the task's own scores (repeat copy: ``marker_accuracy``; N-grams: ``bayes_gap`` and
``bayes_optimal_cost``) and ``objective``, the task's declared objective (``Task.objective``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ntm.api import load
from ntm.baseline import Model
from ntm.checkpoint import load_checkpoint
from ntm.cli import Parser, UsageError, guarded
from ntm.evaluation import held_scores
from ntm.tasks import Task

PROG = "python -m ntm.evaluate"


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(
            f"--lengths must be comma-separated integers >= 1, but got {text!r}."
        ) from None
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--lengths must be comma-separated integers >= 1, but got {text!r}.")
    return sizes


@torch.no_grad()
def evaluate_sizes(
    model: Model,
    task: Task,
    sizes: list[int],
    *,
    batch_size: int = 64,
    seed: int = 0,
    repeats: int | None = None,
) -> list[dict[str, float]]:
    """``task_scores`` at each exact size on batches seeded ``seed + size``
    (``ntm.evaluation.held_scores``), as rows ``{"size", "cost_bits", "bit_errors", ...,
    "objective"}`` (``repeats``: repeat copy's copies, else ignored)."""
    rows = []
    for size in sizes:
        gen = torch.Generator().manual_seed(seed + size)
        scores = held_scores(model, task, batch_size, gen, size=size, repeats=repeats)
        rows.append({"size": size, "cost_bits": scores.pop("loss"), **scores})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="training checkpoint file or export directory")
    p.add_argument("--lengths", default="10,20,50,100", help="comma-separated sizes")
    p.add_argument("--repeats", type=int, help="repeat copy: copies per sequence")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plots", type=Path, help="write PNG plots into this directory")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    sizes = parse_sizes(a.lengths)
    if a.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, but got {a.batch_size}.")
    if a.repeats is not None and a.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, but got {a.repeats}.")
    torch.set_num_threads(a.threads)
    model, task, config = load(a.checkpoint)
    rows = evaluate_sizes(
        model, task, sizes, batch_size=a.batch_size, seed=a.seed, repeats=a.repeats
    )
    if a.json:
        print(json.dumps({"task": task.name, "objective": task.objective, "results": rows}))
    else:
        extra = [k for k in rows[0] if k not in ("size", "cost_bits", "bit_errors", "objective")]
        print(f"{'size':>6} {'bit errors/seq':>15} {'cost bits/seq':>14}", *extra)
        for r in rows:
            cells = " ".join(f"{r[k]:>{len(k)}.3f}" for k in extra)
            print(f"{r['size']:>6} {r['bit_errors']:>15.3f} {r['cost_bits']:>14.3f}", cells)
        print(f"objective: {task.objective}")
    if a.plots is not None:
        from ntm.plots import plot_run

        gen = torch.Generator().manual_seed(a.seed)
        history = load_checkpoint(a.checkpoint).get("history") or []
        paths = plot_run(model, task.sample_exact(1, sizes[0], gen), history, a.plots, task=task)
        print(f"plots: {', '.join(str(x) for x in paths)}", file=sys.stderr)
    return 0


def cli() -> int:
    """The console script (``pyproject.toml``): ``main`` with one-line errors and exit codes."""
    return guarded(PROG, main)


if __name__ == "__main__":
    sys.exit(cli())
