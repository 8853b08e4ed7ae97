"""The Ray Tune trainable: one NTM trial that reports every K steps and checkpoints.

Each report (one ASHA "iteration") is the trainer's report (``ntm.report.Report``) plus
the search's keys: ``objective`` (read from the trainer's report: the task's objective at
the target difficulty), ``max_level_reached``, ``target_level``, ``device``, ``node_id``,
``status`` and ``training_iteration``, the trainer's report number (Ray's own counter restarts
from its experiment snapshot after a restore; see ``search.trial.resume``).
When to stop is the trainer's rule (``ntm.stopping``: steps, time or solved, at report
boundaries): the report it marks as the last says ``status: "completed"``. A
NonFiniteError ends the trial with a single ``status: "pruned_nan"`` report (objective
``PRUNED_OBJECTIVE``) and a normal return.

A restored trial continues from its newest checkpoint on storage (``search.trial.resume``).
If that checkpoint is newer than Ray's, the reports after Ray's are reported again from the
trainer's history before training goes on, without redoing their work: they may never have
reached the driver, and Ray keeps ``result.json`` only as of its snapshot. MLflow and ASHA skip
those they have. A trial restored from its final checkpoint reports its last report again
and returns (after a PBT exploit of a finished run too: that end, once, as its own).

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
from ray.train._internal.session import get_storage

from ntm.checkpoint import load_checkpoint
from ntm.events import NonFiniteError
from ntm.report import Report
from ntm.trainer import Trainer
from search.trial.config import run_config_from_trial, settings_from_trial
from search.trial.lineage import Lineage
from search.trial.resume import open_checkpoint, restore_newest
from search.trial.status import COMPLETED, PRUNED_NAN, PRUNED_OBJECTIVE, RUNNING

CHECKPOINT_FILE = "checkpoint.pt"  # in each of a trial's checkpoint_NNNNNN directories

__all__ = ["CHECKPOINT_FILE", "train_ntm", "trial_device"]


def trial_device() -> str:
    """``cuda`` when Ray gave this trial a GPU (it sets CUDA_VISIBLE_DEVICES), else ``cpu``."""
    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"


def _trainer(config: Mapping[str, Any], device: str) -> tuple[Trainer, int]:
    """A new trainer, or this trial's newest checkpoint's (after a restore), and how many of
    its reports Ray's checkpoint holds (the rest are reported again)."""
    planned = run_config_from_trial(config, device=device)

    def load(directory: Path) -> Trainer:
        return Trainer.from_checkpoint(
            directory / CHECKPOINT_FILE, device=device, threads=planned.train.threads
        )

    def reports_in(directory: Path) -> int:  # reads no state into torch (its RNG stays)
        return len(load_checkpoint(directory / CHECKPOINT_FILE)["history"])

    given = tune.get_checkpoint()
    trainer, newer = restore_newest(given, get_storage(), load)
    if trainer is None:
        return Trainer(planned), 0
    trainer.set_hyperparameters(lr=planned.train.lr, curriculum_params=planned.curriculum.params)
    if not newer:
        return trainer, len(trainer.history)
    return trainer, open_checkpoint(given, reports_in) if given is not None else 0


class _Trial:
    """The state of one trial between reports: its trainer and what it reported last."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.device = trial_device()
        # which Ray node runs this attempt (a trial restored after a node loss moves)
        self.node_id = ray.get_runtime_context().get_node_id()
        settings = settings_from_trial(config)
        self.checkpoint_seconds = settings.checkpoint_seconds
        self.checkpoint_every = settings.checkpoint_every
        self.trainer, self.known = _trainer(config, self.device)
        history = self.trainer.history
        self.lineage = Lineage.restored(
            tune.get_context().get_trial_id(), tune.get_checkpoint(), len(history)
        )
        if self.known == len(history) and history and history[-1].get("stop_reason"):
            self.known -= 1  # restored from its final checkpoint: Ray must see the end again
        self.max_level = max((int(h["level"]) for h in history[: self.known]), default=0)
        self.last: dict[str, Any] = {}
        self.last_checkpoint = time.monotonic()

    def metrics(self, report: Report, number: int) -> dict[str, Any]:
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
            "training_iteration": number,  # the trainer's report number
            **self.lineage.metrics(),
        }  # fmt: skip

    def replay(self) -> bool:
        """Report again the reports Ray's checkpoint does not hold (module docstring); True
        when the run had ended."""
        history = self.trainer.history
        for number in range(self.known + 1, len(history) + 1):
            report = Report.from_dict(history[number - 1])
            self.send(report, number, checkpoint=report.stop_reason is not None)
        return bool(history) and history[-1].get("stop_reason") is not None

    def on_report(self, report: Report) -> bool:
        number = len(self.trainer.history)
        due = time.monotonic() - self.last_checkpoint >= self.checkpoint_seconds
        every = self.checkpoint_every  # PBT: a checkpoint at every perturbation
        due = due or (every > 0 and number % every == 0)
        self.send(report, number, checkpoint=report.stop_reason is not None or due)
        return False  # the trainer stops on its own rule

    def send(self, report: Report, number: int, *, checkpoint: bool) -> None:
        """``tune.report`` report ``number``, with a checkpoint of the trainer if asked."""
        metrics = self.metrics(report, number)
        self.last = metrics
        if checkpoint:
            with tempfile.TemporaryDirectory(prefix="ntm-ckpt-") as directory:
                self.trainer.save(Path(directory) / CHECKPOINT_FILE)
                saved = tune.Checkpoint.from_directory(directory)
                saved.set_metadata(self.lineage.metadata())
                tune.report(metrics, checkpoint=saved)
            self.last_checkpoint = time.monotonic()
        else:
            tune.report(metrics)

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
            "training_iteration": len(self.trainer.history) + 1,
            **self.lineage.metrics(),
            "nan_step": event.step,
            "nan_level": event.level,
            "nan_parameters": ",".join(event.parameters),
        }
        for key in ("bit_errors", "eval_loss", "eval_bit_errors", "sequences", "seq_per_sec"):
            metrics.setdefault(key, math.nan)
        tune.report(metrics)


def train_ntm(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: train one NTM trial, reporting and checkpointing."""
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # no line per checkpoint
    trial = _Trial(config)
    if trial.replay():  # restored from its final checkpoint: nothing left to train
        return
    try:
        trial.trainer.run(trial.on_report)
    except NonFiniteError as event:
        trial.report_nan(event)
