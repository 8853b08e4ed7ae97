"""Train one NTM standalone.

    python -m ntm.train --task copy --task-param max_length=20 --curriculum plateau --steps 3000
    python -m ntm.train --config exported/NAME/config.json --seed 3 --steps 5000

A progress bar with an ETA runs between reports when stderr is a terminal (--no-progress
turns it off); each report is printed as a line (or as JSON lines with --json), and the
parameter count is printed at the start. --config starts from a saved run config (an
export's config.json, or its directory): its values become the defaults, and any option
given on the command line overrides them. Checkpoints are written atomically to --checkpoint
(every --checkpoint-every reports, and at the end); --resume continues a run from its
checkpoint with the same subsequent losses. The model, curriculum and optimisation options
are the fields of NTMConfig, CurriculumConfig and TrainConfig.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from curricula import SCHEDULERS, CurriculumConfig
from ntm.cli import Parser, UsageError, add_fields, field_values, guarded, parse_key_values
from ntm.config import NTMConfig
from ntm.events import NonFiniteError
from ntm.report import Report
from ntm.tasks import TASKS, TaskConfig
from ntm.train_config import RunConfig, TrainConfig, load_run_config
from ntm.trainer import Trainer

PROG = "python -m ntm.train"
_TASK_WIDTHS = ("input_size", "output_size")  # decided by the task, not by an option
_CURRICULUM = {"name": "curriculum"}  # CurriculumConfig.name is --curriculum
_CURRICULUM_SHORTHANDS = ("patience", "min_delta", "mastery_threshold")
MODEL_HELP = {
    "model": "ntm | lstm (the LSTM baseline: the controller alone)",
    "controller": "lstm | feedforward",
    "controller_size": "units per controller layer",
    "activation": "feedforward: relu | tanh | sigmoid",
    "memory_n": "N memory locations",
    "memory_m": "M, location width",
    "shift_range": "s: offsets -s..s",
    "memory_init": "constant | learned | random",
    "learn_bias": "learn the initial read vectors and head weightings",
}
CURRICULUM_HELP = {"name": " | ".join(sorted(SCHEDULERS)), "start_level": "first level"}
TRAIN_HELP = {
    "optimizer": "adam | rmsprop",
    "lr": "learning rate",
    "report_every": "steps per report",
    "eval_every": "steps per evaluation (at the target level)",
    "seed": "seed of the model, the data and the curriculum",
    "momentum": "rmsprop momentum",
    "rmsprop_alpha": "rmsprop smoothing constant, in (0, 1) (torch 0.99; Graves 2013: 0.95)",
    "rmsprop_centered": "centered rmsprop (Graves 2013)",
    "clip": "norm | value | none",
    "steps": "0 = no step limit",
    "max_seconds": "training-time limit, checked at reports; 0 = none",
    "eval_batch": "sequences in the fixed evaluation batch",
    "stop_bit_errors": "stop once the objective at the target level is below this ...",
    "solved_reports": "... for this many reports in a row",
    "threads": "torch threads",
    "lr_decay_on_solve": "multiply lr by this once the target level is first solved (1 = off)",
    "inject_nan_at_step": "fault injection: NaN loss at this step",
    "engine": "auto | eager | manual | compiled (auto, on CPU: manual for 2,000 steps, then "
    "compiled; eager elsewhere)",
}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description=__doc__)
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="start from this run config (JSON, e.g. exported/NAME/config.json); "
                   "options given override it")  # fmt: skip
    g = p.add_argument_group("task")
    g.add_argument("--task", default=TaskConfig().name, help=" | ".join(sorted(TASKS)))
    g.add_argument("--task-param", action="append", metavar="KEY=VALUE",
                   help="task parameter, e.g. max_length=20 (repeatable)")  # fmt: skip
    add_fields(p.add_argument_group("model"), NTMConfig, MODEL_HELP, skip=_TASK_WIDTHS)
    g = p.add_argument_group("curriculum")
    add_fields(g, CurriculumConfig, CURRICULUM_HELP, skip=("target_level", "params"),
               names=_CURRICULUM)  # fmt: skip
    g.add_argument("--patience", type=int, help="plateau/mixed: reports without improvement")
    g.add_argument("--min-delta", type=float, help="plateau/mixed: improvement that counts")
    g.add_argument("--mastery-threshold", type=float, help="raise when bit errors/seq fall below")
    g.add_argument("--curriculum-param", action="append", metavar="KEY=VALUE",
                   help="any other scheduler parameter (repeatable)")  # fmt: skip
    add_fields(p.add_argument_group("optimisation and run"), TrainConfig, TRAIN_HELP)
    g = p.add_argument_group("checkpoints and output")
    g.add_argument("--checkpoint", type=Path, help="checkpoint file to write")
    g.add_argument("--checkpoint-every", type=int, default=10, help="in reports")
    g.add_argument("--resume", type=Path,
                   help="resume from this checkpoint (other options ignored except "
                   "--steps/--max-seconds)")  # fmt: skip
    g.add_argument("--json", action="store_true", help="print reports as JSON lines")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")  # fmt: skip
    return p


def config_defaults(config: RunConfig) -> dict[str, Any]:
    """The parser defaults that rebuild ``config`` (``--config``): the task's and the
    curriculum's params as ``KEY=VALUE`` items that later ones on the command line override."""
    values: dict[str, Any] = {"task": config.task.name}
    values["task_param"] = [f"{k}={json.dumps(v)}" for k, v in config.task.params.items()]
    model = {k: v for k, v in dataclasses.asdict(config.model).items() if k not in _TASK_WIDTHS}
    curriculum = dataclasses.asdict(config.curriculum)
    values["curriculum_param"] = [
        f"{k}={json.dumps(v)}" for k, v in curriculum.pop("params").items()
    ]
    curriculum.pop("target_level")
    values.update({_CURRICULUM.get(k, k): v for k, v in curriculum.items()})
    return values | model | dataclasses.asdict(config.train)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options; with ``--config FILE`` the file's values are the defaults."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is not None and args.resume is None:
        parser.set_defaults(**config_defaults(load_run_config(args.config)))
        args = parser.parse_args(argv)
    return args


def config_from_args(a: argparse.Namespace) -> RunConfig:
    curriculum_params = parse_key_values(a.curriculum_param, flag="--curriculum-param")
    for name in _CURRICULUM_SHORTHANDS:
        if getattr(a, name) is not None:
            curriculum_params[name] = getattr(a, name)
    curriculum = field_values(a, CurriculumConfig, skip=("target_level", "params"),
                              names=_CURRICULUM)  # fmt: skip
    return RunConfig(
        task=TaskConfig(name=a.task, params=parse_key_values(a.task_param, flag="--task-param")),
        model=NTMConfig(**field_values(a, NTMConfig, skip=_TASK_WIDTHS)),
        curriculum=CurriculumConfig(
            **curriculum, target_level=max(a.start_level, 1), params=curriculum_params
        ),
        train=TrainConfig(**field_values(a, TrainConfig)),
    )


def format_report(r: Report) -> str:
    line = (
        f"step {r.step:6d}  seqs {r.sequences:8d}  level {r.level:3d}  "
        f"cost {r.loss:8.3f} bits/seq  errors {r.bit_errors:7.3f} bits/seq  "
        f"|g| {r.grad_norm:7.3f}  {r.seq_per_sec:7.1f} seq/s"
    )
    if r.eval_bit_errors is not None:
        line += f"  eval errors {r.eval_bit_errors:.3f}"
    if r.objective is not None:
        line += f"  objective {r.objective:.3f}"
    return line


def describe(trainer: Trainer) -> str:
    """The run in one line: task, model, parameter count, engine, device, planned steps."""
    cfg = trainer.config
    count = sum(p.numel() for p in trainer.model.parameters())
    steps = f"{cfg.train.steps:,} steps" if cfg.train.steps else "no step limit"
    return (
        f"{cfg.task.name}, {cfg.model.model} model with {count:,} parameters, engine "
        f"{trainer.engine}, {cfg.train.device}, {steps}, from step {trainer.step:,}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.resume is not None:
        trainer = Trainer.from_checkpoint(
            args.resume, steps=args.steps, max_seconds=args.max_seconds
        )
    else:
        trainer = Trainer(config_from_args(args))
    if args.checkpoint is not None and args.checkpoint.is_dir():
        raise UsageError(
            f"--checkpoint must be a file path, but got a directory: {args.checkpoint}"
        )

    print(f"{PROG}: {describe(trainer)}", file=sys.stderr, flush=True)
    steps = trainer.config.train.steps
    bar = tqdm(
        total=steps or None,
        initial=trainer.step,
        unit="step",
        dynamic_ncols=True,
        disable=None if args.progress is None else not args.progress,  # None: tty only
    )

    def emit(line: str, file: Any = sys.stdout) -> None:
        if bar.disable:
            print(line, file=file, flush=True)
        else:
            bar.write(line, file=file)  # above the bar

    def on_report(report: Report) -> bool:
        emit(json.dumps(report.to_dict()) if args.json else format_report(report))
        if args.checkpoint is not None and len(trainer.history) % args.checkpoint_every == 0:
            trainer.save(args.checkpoint)
        return False

    def on_step(step: int) -> None:
        bar.update(step - bar.n)

    with bar:
        try:
            trainer.run(on_report, on_step)
        except NonFiniteError as event:
            emit(f"{PROG}: stopped: {event}", file=sys.stderr)
            return 3
        finally:
            if args.checkpoint is not None and trainer.step > 0:
                trainer.save(args.checkpoint)
    final = trainer.evaluate()
    print(
        json.dumps(
            {
                "final_eval": final,
                "level": trainer.scheduler.level,
                "steps": trainer.step,
                "sequences": trainer.sequences,
            }
        )
    )
    return 0


def cli() -> int:
    """The console script (``pyproject.toml``): ``main`` with one-line errors and exit codes."""
    return guarded(PROG, main)


if __name__ == "__main__":
    sys.exit(cli())
