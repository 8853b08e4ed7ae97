"""Train one NTM standalone.

    python -m ntm.train --task copy --task-param max_length=20 --curriculum plateau --steps 3000

Progress is printed per report (or as JSON lines with --json). Checkpoints are written
atomically to --checkpoint (every --checkpoint-every reports, and at the end); --resume
continues a run from its checkpoint with the same subsequent losses.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from curricula import CurriculumConfig
from ntm.cli import Parser, UsageError, guarded, parse_key_values
from ntm.config import NTMConfig
from ntm.events import NonFiniteError
from ntm.tasks import TaskConfig
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import Report, Trainer

PROG = "python -m ntm.train"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d_model, d_train = NTMConfig(), TrainConfig()
    g = p.add_argument_group("task")
    g.add_argument(
        "--task",
        default="copy",
        help="copy | repeat_copy | associative_recall | ngrams | priority_sort",
    )
    g.add_argument(
        "--task-param",
        action="append",
        metavar="KEY=VALUE",
        help="task parameter, e.g. max_length=20 (repeatable)",
    )
    g = p.add_argument_group("model")
    g.add_argument("--model", default=d_model.model, help="ntm | lstm (the LSTM baseline)")
    g.add_argument("--controller", default=d_model.controller, help="lstm | feedforward")
    g.add_argument("--controller-size", type=int, default=d_model.controller_size)
    g.add_argument("--controller-layers", type=int, default=d_model.controller_layers)
    g.add_argument(
        "--activation", default=d_model.activation, help="feedforward: relu|tanh|sigmoid"
    )
    g.add_argument("--memory-n", type=int, default=d_model.memory_n, help="N memory locations")
    g.add_argument("--memory-m", type=int, default=d_model.memory_m, help="M, location width")
    g.add_argument("--read-heads", type=int, default=d_model.read_heads)
    g.add_argument("--write-heads", type=int, default=d_model.write_heads)
    g.add_argument("--shift-range", type=int, default=d_model.shift_range, help="s: offsets -s..s")
    g.add_argument("--memory-init", default=d_model.memory_init, help="constant | learned | random")
    g.add_argument(
        "--learn-bias",
        action=argparse.BooleanOptionalAction,
        default=d_model.learn_bias,
        help="learn the initial read vectors and head weightings",
    )
    g = p.add_argument_group("curriculum")
    g.add_argument(
        "--curriculum", default="none", help="none | plateau | staged | mixed | learning_progress"
    )
    g.add_argument("--start-level", type=int, default=1)
    g.add_argument("--patience", type=int, help="plateau/mixed: reports without improvement")
    g.add_argument("--min-delta", type=float, help="plateau/mixed: improvement that counts")
    g.add_argument("--mastery-threshold", type=float, help="raise when bit errors/seq fall below")
    g.add_argument(
        "--curriculum-param",
        action="append",
        metavar="KEY=VALUE",
        help="any other scheduler parameter (repeatable)",
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", default=d_train.optimizer, help="adam | rmsprop")
    g.add_argument("--lr", type=float, default=d_train.lr)
    g.add_argument("--momentum", type=float, default=d_train.momentum, help="rmsprop momentum")
    g.add_argument("--batch-size", type=int, default=d_train.batch_size)
    g.add_argument("--clip", default=d_train.clip, help="norm | value | none")
    g.add_argument("--clip-value", type=float, default=d_train.clip_value)
    g.add_argument(
        "--lr-decay-on-solve",
        type=float,
        default=d_train.lr_decay_on_solve,
        help="multiply lr by this once the target level is first solved (1 = off)",
    )
    g = p.add_argument_group("run")
    g.add_argument("--steps", type=int, default=d_train.steps, help="0 = no step limit")
    g.add_argument("--max-seconds", type=float, default=0.0, help="0 = no time limit")
    g.add_argument("--report-every", type=int, default=d_train.report_every)
    g.add_argument("--eval-every", type=int, default=d_train.eval_every)
    g.add_argument(
        "--stop-bit-errors",
        type=float,
        help="stop once eval bit errors/seq at the target level fall below this",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=1, help="torch threads")
    g.add_argument("--device", default="cpu")
    g.add_argument(
        "--engine",
        default=d_train.engine,
        help="auto | eager | manual | compiled (auto: manual on CPU, eager elsewhere)",
    )
    g.add_argument("--checkpoint", type=Path, help="checkpoint file to write")
    g.add_argument("--checkpoint-every", type=int, default=10, help="in reports")
    g.add_argument(
        "--resume",
        type=Path,
        help="resume from this checkpoint (other options ignored except --steps/--max-seconds)",
    )
    g.add_argument("--inject-nan-at-step", type=int, help="fault injection: NaN loss at this step")
    g.add_argument("--json", action="store_true", help="print reports as JSON lines")
    return p


def config_from_args(a: argparse.Namespace) -> RunConfig:
    curriculum_params = parse_key_values(a.curriculum_param, flag="--curriculum-param")
    for name in ("patience", "min_delta", "mastery_threshold"):
        if getattr(a, name) is not None:
            curriculum_params[name] = getattr(a, name)
    task = TaskConfig(name=a.task, params=parse_key_values(a.task_param, flag="--task-param"))
    model = NTMConfig(
        model=a.model,
        controller=a.controller,
        controller_size=a.controller_size,
        controller_layers=a.controller_layers,
        activation=a.activation,
        memory_n=a.memory_n,
        memory_m=a.memory_m,
        read_heads=a.read_heads,
        write_heads=a.write_heads,
        shift_range=a.shift_range,
        memory_init=a.memory_init,
        learn_bias=a.learn_bias,
    )
    curriculum = CurriculumConfig(
        name=a.curriculum,
        start_level=a.start_level,
        target_level=max(a.start_level, 1),
        params=curriculum_params,
    )
    train = TrainConfig(
        optimizer=a.optimizer,
        lr=a.lr,
        momentum=a.momentum,
        batch_size=a.batch_size,
        clip=a.clip,
        clip_value=a.clip_value,
        steps=a.steps,
        max_seconds=a.max_seconds,
        report_every=a.report_every,
        eval_every=a.eval_every,
        stop_bit_errors=a.stop_bit_errors,
        seed=a.seed,
        threads=a.threads,
        device=a.device,
        engine=a.engine,
        lr_decay_on_solve=a.lr_decay_on_solve,
        inject_nan_at_step=a.inject_nan_at_step,
    )
    return RunConfig(task=task, model=model, curriculum=curriculum, train=train)


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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

    def on_report(report: Report) -> bool:
        print(json.dumps(report.to_dict()) if args.json else format_report(report), flush=True)
        if args.checkpoint is not None and len(trainer.history) % args.checkpoint_every == 0:
            trainer.save(args.checkpoint)
        return False

    try:
        trainer.run(on_report)
    except NonFiniteError as event:
        print(f"{PROG}: stopped: {event}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(guarded(PROG, main))
