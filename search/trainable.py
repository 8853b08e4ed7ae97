"""The Ray Tune trainable: one NTM trial that reports every K steps and checkpoints.

Each report (one ASHA "iteration") carries the metric keys of the search contract;
``objective`` is the evaluation bit errors per sequence at the task's target difficulty.
The trainable, not the trainer, enforces the trial's time cap and the solved rule (under
``stop_bit_errors`` at the target level for ``SOLVED_REPORTS`` reports in a row), at report
boundaries, so that the last report of a trial that ran to its own end is known to be the
last one and says ``status: "completed"``. A NonFiniteError ends the trial with a single
``status: "pruned_nan"`` report (objective ``PRUNED_OBJECTIVE``) and a normal return.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from ntm.events import NonFiniteError
from ntm.train_config import RunConfig
from ntm.trainer import Report, Trainer
from search.params import run_config_from_trial
from search.status import COMPLETED, PRUNED_NAN, PRUNED_OBJECTIVE, RUNNING

CHECKPOINT_FILE = "checkpoint.pt"
SOLVED_REPORTS = 3  # consecutive solved reports before a trial counts as solved and stops

__all__ = ["CHECKPOINT_FILE", "train_ntm", "trial_device"]


def trial_device() -> str:
    """``cuda`` when Ray gave this trial a GPU (it sets CUDA_VISIBLE_DEVICES), else ``cpu``."""
    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"


class _Trial:
    """The state of one trial between reports: trainer, limits and what to report."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.device = trial_device()
        # which Ray node runs this attempt (a trial restored after a node loss moves)
        self.node_id = ray.get_runtime_context().get_node_id()
        planned = run_config_from_trial(config, device=self.device)
        self.max_seconds = planned.train.max_seconds
        self.stop_bit_errors = planned.train.stop_bit_errors
        self.checkpoint_seconds = float(config.get("checkpoint_seconds", 0.0))
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as directory:
                self.trainer = Trainer.from_checkpoint(
                    Path(directory) / CHECKPOINT_FILE,
                    device=self.device,
                    threads=planned.train.threads,
                )
        else:
            self.trainer = Trainer(_without_own_limits(planned))
        levels = [int(h["level"]) for h in self.trainer.history]
        self.max_level = max(levels, default=0)
        self.last: dict[str, Any] = {}
        self.last_checkpoint = time.monotonic()

    def solved_streak(self) -> int:
        """Trailing reports (this one included) solved at the target level: evaluation bit
        errors under ``stop_bit_errors``. Read from the trainer's history, so it survives a
        restore from a checkpoint."""
        if self.stop_bit_errors is None:
            return 0
        target, streak = self.trainer.scheduler.target_level, 0
        for h in reversed(self.trainer.history):
            errors = h.get("eval_bit_errors")
            if errors is None or h["level"] != target or errors >= self.stop_bit_errors:
                break
            streak += 1
        return streak

    def is_final(self, report: Report) -> bool:
        cfg = self.trainer.config.train
        # one lucky evaluation is not a solution: stay solved for SOLVED_REPORTS reports
        solved = self.solved_streak() >= SOLVED_REPORTS
        out_of_time = self.max_seconds > 0 and report.elapsed >= self.max_seconds
        return report.step >= cfg.steps or out_of_time or solved

    def on_report(self, report: Report) -> bool:
        final = self.is_final(report)
        self.max_level = max(self.max_level, report.level)
        objective = report.eval_bit_errors
        if objective is None:  # every report evaluates (eval_every == report_every)
            objective = self.last.get("objective", PRUNED_OBJECTIVE)
        metrics: dict[str, Any] = {
            "objective": objective,
            "loss": report.loss,
            "bit_errors": report.bit_errors,
            "eval_loss": report.eval_loss if report.eval_loss is not None else math.nan,
            "eval_bit_errors": objective,
            "level": report.level,
            "max_level_reached": self.max_level,
            "sequences": report.sequences,
            "seq_per_sec": report.seq_per_sec,
            "grad_norm": report.grad_norm,
            "step": report.step,
            "device": self.device,
            "node_id": self.node_id,
            "status": COMPLETED if final else RUNNING,
        }
        self.last = metrics
        due = time.monotonic() - self.last_checkpoint >= self.checkpoint_seconds
        if final or due:
            with tempfile.TemporaryDirectory(prefix="ntm-ckpt-") as directory:
                self.trainer.save(Path(directory) / CHECKPOINT_FILE)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
            self.last_checkpoint = time.monotonic()
        else:
            tune.report(metrics)
        return final

    def report_nan(self, event: NonFiniteError) -> None:
        metrics = {
            **self.last,
            "objective": PRUNED_OBJECTIVE,
            "loss": event.loss,
            "grad_norm": math.nan,
            "level": event.level,
            "max_level_reached": max(self.max_level, event.level),
            "step": event.step,
            "device": self.device,
            "status": PRUNED_NAN,
            "nan_step": event.step,
            "nan_level": event.level,
            "nan_parameters": ",".join(event.parameters),
        }
        for key in ("bit_errors", "eval_loss", "eval_bit_errors", "sequences", "seq_per_sec"):
            metrics.setdefault(key, math.nan)
        tune.report(metrics)


def _without_own_limits(config: RunConfig) -> RunConfig:
    """The trainer runs to ``steps``; the trial enforces time and solved at report boundaries."""
    train = dataclasses.replace(config.train, max_seconds=0.0, stop_bit_errors=None)
    return dataclasses.replace(config, train=train)


def train_ntm(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: train one NTM trial, reporting and checkpointing."""
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # no line per checkpoint
    trial = _Trial(config)
    try:
        trial.trainer.run(trial.on_report)
    except NonFiniteError as event:
        trial.report_nan(event)
