"""The Ray Tune trainable: one NTM trial that reports every K steps and checkpoints.

Each report (one ASHA "iteration") is the trainer's report (``ntm.trainer.Report``) plus
the search's keys: ``objective`` (read from the trainer's report: the task's objective at
the target difficulty), ``max_level_reached``, ``target_level``, ``device``, ``node_id``
and ``status``.
When to stop is the trainer's rule (``ntm.stopping``: steps, time or solved, at report
boundaries): the report it marks as the last says ``status: "completed"``. A
NonFiniteError ends the trial with a single ``status: "pruned_nan"`` report (objective
``PRUNED_OBJECTIVE``) and a normal return.

Restored from a checkpoint, the trial's own config rules its ``lr`` and curriculum parameters
(``Trainer.set_hyperparameters``): after a PBT exploit they are the mutated values, not the
copied checkpoint's. Each checkpoint's Ray metadata names the trial that saved it
(``search.trial.lineage``); a trial restored from another trial's checkpoint was exploited
from it, and its reports from then on carry ``exploited_from`` and ``exploited_at_step``.
"""

from __future__ import annotations

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
from ntm.trainer import Report, Trainer
from search.trial.config import run_config_from_trial, settings_from_trial
from search.trial.lineage import Lineage
from search.trial.status import COMPLETED, PRUNED_NAN, PRUNED_OBJECTIVE, RUNNING

CHECKPOINT_FILE = "checkpoint.pt"  # in each of a trial's checkpoint_NNNNNN directories

__all__ = ["CHECKPOINT_FILE", "train_ntm", "trial_device"]


def trial_device() -> str:
    """``cuda`` when Ray gave this trial a GPU (it sets CUDA_VISIBLE_DEVICES), else ``cpu``."""
    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"


def _trainer(config: Mapping[str, Any], device: str) -> Trainer:
    """A new trainer, or the one in Ray's checkpoint of this trial (after a restore)."""
    planned = run_config_from_trial(config, device=device)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return Trainer(planned)
    with checkpoint.as_directory() as directory:
        trainer = Trainer.from_checkpoint(
            Path(directory) / CHECKPOINT_FILE, device=device, threads=planned.train.threads
        )
    trainer.set_hyperparameters(lr=planned.train.lr, curriculum_params=planned.curriculum.params)
    return trainer


class _Trial:
    """The state of one trial between reports: its trainer and what it reported last."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.device = trial_device()
        # which Ray node runs this attempt (a trial restored after a node loss moves)
        self.node_id = ray.get_runtime_context().get_node_id()
        settings = settings_from_trial(config)
        self.checkpoint_seconds = settings.checkpoint_seconds
        self.checkpoint_every = settings.checkpoint_every
        self.trainer = _trainer(config, self.device)
        self.lineage = Lineage.restored(
            tune.get_context().get_trial_id(), tune.get_checkpoint(), len(self.trainer.history)
        )
        self.max_level = max((int(h["level"]) for h in self.trainer.history), default=0)
        self.last: dict[str, Any] = {}
        self.last_checkpoint = time.monotonic()

    def metrics(self, report: Report) -> dict[str, Any]:
        """The trainer's report and the search's keys (see the module docstring)."""
        self.max_level = max(self.max_level, report.level)
        objective = report.objective
        if objective is None:  # every report evaluates (eval_every == report_every)
            objective = self.last.get("objective", PRUNED_OBJECTIVE)
        return {
            **report.to_dict(),
            "objective": objective,
            "eval_loss": report.eval_loss if report.eval_loss is not None else math.nan,
            "eval_bit_errors": report.eval_bit_errors if report.eval_bit_errors is not None
            else objective,
            "max_level_reached": self.max_level,
            "target_level": self.trainer.scheduler.target_level,
            "device": self.device,
            "node_id": self.node_id,
            "status": COMPLETED if report.stop_reason is not None else RUNNING,
            **self.lineage.metrics(),
        }  # fmt: skip

    def on_report(self, report: Report) -> bool:
        metrics = self.metrics(report)
        self.last = metrics
        due = time.monotonic() - self.last_checkpoint >= self.checkpoint_seconds
        every = self.checkpoint_every
        due = due or (every > 0 and len(self.trainer.history) % every == 0)
        if report.stop_reason is not None or due:
            with tempfile.TemporaryDirectory(prefix="ntm-ckpt-") as directory:
                self.trainer.save(Path(directory) / CHECKPOINT_FILE)
                checkpoint = tune.Checkpoint.from_directory(directory)
                checkpoint.set_metadata(self.lineage.metadata())
                tune.report(metrics, checkpoint=checkpoint)
            self.last_checkpoint = time.monotonic()
        else:
            tune.report(metrics)
        return False  # the trainer stops on its own rule

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

    def report_copied_end(self) -> None:
        """A PBT exploit copied the checkpoint of a run's last report: nothing is left to
        train. One report of that copied end, as this trial's, so that its last result (table,
        ranking, MLflow) is its own and names the exploit."""
        last = self.trainer.history[-1]
        self.max_level = max(self.max_level, int(last["level"]))
        tune.report(
            {**last, "objective": last.get("objective", PRUNED_OBJECTIVE),
             "max_level_reached": self.max_level, "device": self.device,
             "node_id": self.node_id, "status": COMPLETED, **self.lineage.metrics()}
        )  # fmt: skip


def train_ntm(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: train one NTM trial, reporting and checkpointing."""
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # no line per checkpoint
    trial = _Trial(config)
    steps = trial.trainer.config.train.steps
    if trial.lineage.exploited_from is not None and steps and trial.trainer.step >= steps:
        trial.report_copied_end()
        return
    try:
        trial.trainer.run(trial.on_report)
    except NonFiniteError as event:
        trial.report_nan(event)
