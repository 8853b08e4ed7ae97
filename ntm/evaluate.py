"""Evaluate a checkpoint or exported model at several sizes, optionally writing plots.

    python -m ntm.evaluate run.pt --lengths 10,20,50,100 --json --plots plots/

For copy and repeat copy a size is the sequence length (repeat copy: ``--repeats`` copies,
default the task's ``max_repeats``); for associative recall the number of items; for priority
sort the number of inputs; for N-grams the sequence length. Each row holds the cost, the bit
errors, the task's own scores (repeat copy: ``marker_accuracy``; N-grams: ``bayes_gap`` and
``bayes_optimal_cost``) and ``objective``, the task's declared objective (``Task.objective``).
The options are the fields of ``EvaluateConfig``, checked before the checkpoint is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ntm.api import load
from ntm.baseline import Model
from ntm.checkpoint import load_checkpoint
from ntm.cli import Parser, UsageError, add_fields, field_values, guarded
from ntm.errors import require
from ntm.evaluation import held_scores
from ntm.tasks import Task

PROG = "python -m ntm.evaluate"
HELP = {
    "checkpoint": "training checkpoint file or export directory",
    "lengths": "comma-separated sizes",
    "repeats": "repeat copy: copies per sequence; None: the task's max_repeats",
    "batch_size": "sequences per size",
    "seed": "seed of the batches (size N: seed + N)",
    "json": "print one JSON object",
    "plots": "write PNG plots into this directory",
    "threads": "torch threads",
}

__all__ = [
    "HELP",
    "PROG",
    "EvaluateConfig",
    "build_parser",
    "evaluate_sizes",
    "main",
    "parse_evaluate_args",
    "parse_sizes",
]


def parse_sizes(text: str) -> list[int]:
    """``"10,20"`` -> ``[10, 20]``; UsageError naming --lengths unless integers >= 1."""
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--lengths must be comma-separated integers >= 1, but got {text!r}.")
    return sizes


def _need(ok: bool, message: str) -> None:
    require(ok, message, error=UsageError)


@dataclass(frozen=True)
class EvaluateConfig:
    """One evaluation of ``checkpoint`` (a checkpoint file or an export directory) at the
    sizes ``lengths``, ``batch_size`` sequences each (``evaluate_sizes``); ``json``: print one
    JSON object; ``plots``: write PNG plots there; ``threads``: torch threads.

    >>> EvaluateConfig(Path("run.pt"), lengths="2,4").sizes
    [2, 4]
    >>> EvaluateConfig(Path("run.pt"), batch_size=0)
    Traceback (most recent call last):
    ntm.cli.UsageError: --batch-size must be >= 1, but got 0.
    """

    checkpoint: Path
    lengths: str = "10,20,50,100"
    repeats: int | None = None
    batch_size: int = 64
    seed: int = 0
    json: bool = False
    plots: Path | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        parse_sizes(self.lengths)  # UsageError naming --lengths
        _need(self.batch_size >= 1, f"--batch-size must be >= 1, but got {self.batch_size}.")
        _need(
            self.repeats is None or self.repeats >= 1,
            f"--repeats must be >= 1, but got {self.repeats}.",
        )
        _need(self.threads >= 1, f"--threads must be >= 1, but got {self.threads}.")

    @property
    def sizes(self) -> list[int]:
        """``lengths`` as a list of sizes."""
        return parse_sizes(self.lengths)


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


def build_parser() -> argparse.ArgumentParser:
    """The options: the fields of ``EvaluateConfig`` (the checkpoint positional)."""
    p = Parser(prog=PROG, description=__doc__)
    add_fields(p, EvaluateConfig, HELP, positional=("checkpoint",), store_true=("json",))
    return p


def parse_evaluate_args(argv: list[str] | None = None) -> EvaluateConfig:
    """The ``EvaluateConfig`` of a command line (``argv`` None: ``sys.argv``); checked."""
    return EvaluateConfig(**field_values(build_parser().parse_args(argv), EvaluateConfig))


def _print_table(rows: list[dict[str, Any]], objective: str) -> None:
    extra = [k for k in rows[0] if k not in ("size", "cost_bits", "bit_errors", "objective")]
    print(f"{'size':>6} {'bit errors/seq':>15} {'cost bits/seq':>14}", *extra)
    for r in rows:
        cells = " ".join(f"{r[k]:>{len(k)}.3f}" for k in extra)
        print(f"{r['size']:>6} {r['bit_errors']:>15.3f} {r['cost_bits']:>14.3f}", cells)
    print(f"objective: {objective}")


def main(argv: list[str] | None = None) -> int:
    c = parse_evaluate_args(argv)
    torch.set_num_threads(c.threads)
    model, task, config = load(c.checkpoint)
    rows = evaluate_sizes(
        model, task, c.sizes, batch_size=c.batch_size, seed=c.seed, repeats=c.repeats
    )
    if c.json:
        print(json.dumps({"task": task.name, "objective": task.objective, "results": rows}))
    else:
        _print_table(rows, task.objective)
    if c.plots is not None:
        from ntm.plots import plot_run

        gen = torch.Generator().manual_seed(c.seed)
        history = load_checkpoint(c.checkpoint).get("history") or []
        batch = task.sample_exact(1, c.sizes[0], gen)
        paths = plot_run(model, batch, history, c.plots, task=task)
        print(f"plots: {', '.join(str(x) for x in paths)}", file=sys.stderr)
    return 0


def cli() -> int:
    """The console script (``pyproject.toml``): ``main`` with one-line errors and exit codes."""
    return guarded(PROG, main)


if __name__ == "__main__":
    sys.exit(cli())
