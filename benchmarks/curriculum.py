"""Curricula compared: does a scheduler make an NTM solve a task faster, and stay solved?

    python benchmarks/curriculum.py --task copy --seeds 5 --budget 60000 --workers 2

Each (scheduler, seed) run trains on one core (torch threads = 1) with a fixed budget of
training sequences. Every ``--eval-every`` steps it evaluates 64 fixed sequences over the
task's full target range. A run *solves* when that evaluation falls under ``--solved``
bit errors per sequence while the curriculum is at its target level; it *relapses* if a later
evaluation exceeds ``--relapse`` bit errors per sequence. A NaN/inf loss or gradient ends
the run and counts as a non-finite run. At the end each run is evaluated at exact sizes
(``--sizes``, lengths 50 and 100 for copy) to show how far it generalises.

Prints one JSON line per run and one per scheduler (``"summary": true``), then a markdown
table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from curricula import CurriculumConfig
from ntm.evaluate import evaluate_sizes
from ntm.events import NonFiniteError
from ntm.report import Report
from ntm.tasks import SOLVED_BIT_ERRORS, TaskConfig, make_task
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import Trainer

# name -> (start level as a fraction of the target, scheduler parameters). Starting at a
# tenth-to-half of the target: from length 1 the LSTM learns to copy short sequences in its
# own state instead of using the memory, and the run stalls (measured; see RESULTS.md).
SCHEDULERS: dict[str, tuple[float, dict[str, Any]]] = {
    "none": (1.0, {}),
    "plateau": (0.5, {"patience": 4, "min_delta": 0.05, "mastery_threshold": 0.5, "step": 5}),
    "staged": (0.5, {"stages": [[0, 10], [3000, 15], [6000, 20]]}),
    "mixed": (
        0.5,
        {
            "patience": 4,
            "min_delta": 0.05,
            "mastery_threshold": 0.5,
            "step": 5,
            "uniform_fraction": 0.3,
        },
    ),
    "learning_progress": (0.05, {"eta": 0.1, "epsilon": 0.1}),
}
TASKS: dict[str, dict[str, Any]] = {
    "copy": {"max_length": 20},
    "repeat_copy": {"max_length": 10, "max_repeats": 10},
    "associative_recall": {"max_items": 6},
}
SIZES = {"copy": [50, 100], "repeat_copy": [12, 15], "associative_recall": [8, 12]}


def curriculum_config(task: str, scheduler: str) -> CurriculumConfig:
    """The benchmark's setting of ``scheduler``, scaled to ``task``'s target level."""
    target = make_task(TaskConfig(name=task, params=TASKS[task])).max_level
    fraction, params = SCHEDULERS[scheduler]
    params = dict(params)
    if scheduler == "staged":  # stage levels are written for a target of 20
        params["stages"] = [
            [seqs, max(1, round(lvl * target / 20))] for seqs, lvl in params["stages"]
        ]
    if "step" in params:
        params["step"] = max(1, round(params["step"] * target / 20))
    start = max(1, round(fraction * target))
    return CurriculumConfig(name=scheduler, start_level=start, target_level=target, params=params)


def one_run(args: tuple[str, str, int, dict[str, Any]]) -> dict[str, Any]:
    task, scheduler, seed, opts = args
    config = RunConfig(
        task=TaskConfig(name=task, params=TASKS[task]),
        curriculum=curriculum_config(task, scheduler),
        train=TrainConfig(
            batch_size=opts["batch"],
            lr=opts["lr"],
            steps=opts["budget"] // opts["batch"],
            report_every=opts["report_every"],
            eval_every=opts["eval_every"],
            seed=seed,
            threads=1,
            eval_batch=64,
            lr_decay_on_solve=opts["lr_decay_on_solve"],
        ),
    )
    trainer = Trainer(config)
    out: dict[str, Any] = {
        "task": task,
        "scheduler": scheduler,
        "seed": seed,
        "solved_sequences": None,
        "solved_seconds": None,
        "relapsed": False,
        "nonfinite": False,
    }
    start = time.perf_counter()

    def on_report(r: Report) -> bool:
        if r.eval_bit_errors is None:
            return False
        if out["solved_sequences"] is None:
            if trainer.scheduler.at_target and r.eval_bit_errors < opts["solved"]:
                out["solved_sequences"] = r.sequences
                out["solved_seconds"] = round(time.perf_counter() - start, 1)
        elif r.eval_bit_errors > opts["relapse"]:
            out["relapsed"] = True
        return False

    try:
        trainer.run(on_report)
    except NonFiniteError as event:
        out["nonfinite"] = True
        out["nonfinite_step"] = event.step
    final = trainer.evaluate()
    out["final_bit_errors"] = round(final["bit_errors"], 3)
    out["sequences"] = trainer.sequences
    out["seconds"] = round(time.perf_counter() - start, 1)
    out["final_level"] = trainer.scheduler.level
    for row in evaluate_sizes(trainer.model, trainer.task, SIZES[task], batch_size=32):
        out[f"bit_errors_at_{row['size']}"] = round(row["bit_errors"], 2)
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    solved = [r for r in runs if r["solved_sequences"] is not None]

    def med(key: str, rows: list[dict[str, Any]]) -> float | None:
        return statistics.median(r[key] for r in rows) if rows else None

    extra = {k: med(k, runs) for k in runs[0] if k.startswith("bit_errors_at_")}
    return {
        "summary": True,
        "task": runs[0]["task"],
        "scheduler": runs[0]["scheduler"],
        "seeds": len(runs),
        "solved_fraction": len(solved) / len(runs),
        "median_solve_sequences": med("solved_sequences", solved),
        "median_solve_seconds": med("solved_seconds", solved),
        "nonfinite_runs": sum(r["nonfinite"] for r in runs),
        "relapsed_runs": sum(r["relapsed"] for r in solved),
        "median_final_bit_errors": med("final_bit_errors", runs),
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", default="copy", choices=sorted(TASKS))
    p.add_argument("--schedulers", default=",".join(SCHEDULERS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=int, default=60000, help="training sequences per run")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--report-every", type=int, default=25)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--solved", type=float, default=SOLVED_BIT_ERRORS)
    p.add_argument("--relapse", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--lr-decay-on-solve",
        type=float,
        default=1.0,
        help="TrainConfig.lr_decay_on_solve (1 = off)",
    )
    p.add_argument("--smoke-test", action="store_true", help="2 schedulers, 1 seed, tiny budget")
    a = p.parse_args(argv)
    names = a.schedulers.split(",")
    unknown = sorted(set(names) - set(SCHEDULERS))
    if unknown:
        p.error(f"--schedulers must be from {sorted(SCHEDULERS)}, but got {unknown}")
    opts = {
        "batch": a.batch,
        "lr": a.lr,
        "budget": a.budget,
        "report_every": a.report_every,
        "eval_every": a.eval_every,
        "solved": a.solved,
        "relapse": a.relapse,
        "lr_decay_on_solve": a.lr_decay_on_solve,
    }
    seeds = range(a.seeds)
    if a.smoke_test:
        names, seeds = names[:2], range(1)
        opts = replace_opts(opts, budget=a.batch * 20, report_every=5, eval_every=10)
    jobs = [(a.task, name, seed, opts) for name in names for seed in seeds]
    by_scheduler: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    with ProcessPoolExecutor(max_workers=a.workers) as pool:
        for run in pool.map(one_run, jobs):
            print(json.dumps(run), flush=True)
            by_scheduler[run["scheduler"]].append(run)
    summaries = [summarise(runs) for runs in by_scheduler.values()]
    for s in summaries:
        print(json.dumps(s), flush=True)
    print(markdown(summaries, opts))
    return 0


def replace_opts(opts: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**opts, **changes}


def markdown(summaries: list[dict[str, Any]], opts: dict[str, Any]) -> str:
    extra = [k for k in summaries[0] if k.startswith("bit_errors_at_")]
    head = [
        "scheduler",
        "solved",
        "median seqs to solve",
        "median s to solve",
        "non-finite runs",
        "relapsed",
        *[k.replace("bit_errors_at_", "bit errors @") for k in extra],
    ]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        cells = [
            s["scheduler"],
            f"{s['solved_fraction']:.0%}",
            str(s["median_solve_sequences"]),
            str(s["median_solve_seconds"]),
            str(s["nonfinite_runs"]),
            str(s["relapsed_runs"]),
            *[str(s[k]) for k in extra],
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return (
        "\n".join(rows)
        + f"\n\n(budget {opts['budget']} sequences, batch {opts['batch']}, lr {opts['lr']}, "
        f"lr_decay_on_solve {opts['lr_decay_on_solve']})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
