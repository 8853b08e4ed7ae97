"""One straight training loop: sample, forward, masked loss, backward, check, clip, step, report.

The run is built by ``ntm.build.build_run``; when it stops is decided by ``ntm.stopping``
(steps, time or solved, at report boundaries), and each report says why it was the last.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ntm.build import build_run, make_optimizer, retune
from ntm.checkpoint import FORMAT, load_checkpoint, restore_rng_state, rng_state, save_atomic
from ntm.engines import engine_in_use, resolve_engine
from ntm.evaluation import held_scores
from ntm.metrics import LN2
from ntm.report import Report
from ntm.step import batch_loss, check_and_clip
from ntm.stopping import stop_reason
from ntm.tasks import SOLVED_BIT_ERRORS
from ntm.train_config import RunConfig

_EVAL_SEED_OFFSET = 1_000_003  # the fixed evaluation batch is drawn from seed + this


class Trainer:
    """Owns model, optimizer, curriculum and RNGs of one run; ``run()`` trains it."""

    def __init__(self, config: RunConfig) -> None:
        cfg = config.train
        torch.set_num_threads(cfg.threads)
        self.device = torch.device(cfg.device)
        torch.manual_seed(cfg.seed)
        # build_run makes the curriculum before make_optimizer: building an optimizer imports
        # torch's compiler, which creates a cache directory, and a bad curriculum must be
        # refused before anything is created.
        self.config, self.task, model, self.scheduler = build_run(config)
        self.model = model.to(self.device)
        self.step = 0
        self.engine = self._engine()  # refreshed before every step (``auto`` switches)
        self.optimizer = make_optimizer(cfg, self.model.parameters())
        self.data_rng = torch.Generator().manual_seed(cfg.seed)
        self.level_rng = random.Random(cfg.seed)
        self.sequences = 0
        self.elapsed = 0.0
        self.history: list[dict[str, Any]] = []
        self.lr_decayed = False  # lr_decay_on_solve applied (once, at the first solve)

    # -- one step ---------------------------------------------------------------------------
    def _engine(self) -> str:
        """The next train step's forward/backward, e.g. "compiled" (``ntm.engines``: ``auto``
        depends on the steps made so far; the LSTM baseline always runs eager)."""
        engine, model = self.config.train.engine, self.config.model.model
        return resolve_engine(engine, self.device, done=self.step, model=model)

    def train_step(self, level: int) -> tuple[float, float, float]:
        """One optimizer step at ``level``; returns (bits/seq, bit errors/seq, grad norm)."""
        cfg = self.config.train
        batch = self.task.sample(cfg.batch_size, level, self.data_rng).to(self.device)
        self.engine = self._engine()
        loss, errors = batch_loss(self.model, batch, self.engine)
        if cfg.inject_nan_at_step is not None and self.step + 1 == cfg.inject_nan_at_step:
            loss = loss * float("nan")  # documented fault injection: real NaN gradients
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        loss_value = float(loss.detach())
        norm_value = check_and_clip(
            self.model, loss_value, cfg.clip, cfg.clip_value, step=self.step + 1, level=level
        )
        self.optimizer.step()
        self.step += 1
        self.sequences += batch.batch_size
        bits = loss_value / LN2
        self.scheduler.record_batch(level, bits)
        return bits, float(errors.mean()), norm_value

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(
        self,
        *,
        level: int | None = None,
        size: int | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
    ) -> dict[str, float]:
        """``task_scores`` (objective included) on a fixed seeded batch at a level or size."""
        gen = torch.Generator().manual_seed(
            self.config.train.seed + _EVAL_SEED_OFFSET if seed is None else seed
        )
        n = batch_size or self.config.train.eval_batch
        return held_scores(self.model, self.task, n, gen, size=size, level=level)

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        on_report: Callable[[Report], bool | None] | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Train until a stop rule of ``ntm.stopping`` holds at a report; returns the history.

        A step; at a report boundary, the report, then curriculum, evaluation (when due), lr
        decay and stop. ``on_report`` is called after every report (the last one has
        ``stop_reason`` set); returning True stops training. ``on_step(step)`` is called after
        every optimizer step. NonFiniteError propagates at the step where it happens.
        """
        window: list[tuple[float, float, float]] = []
        mark_time, mark_seqs = time.perf_counter(), self.sequences
        while self.config.train.steps == 0 or self.step < self.config.train.steps:
            window.append(self.train_step(self.scheduler.next_level(self.level_rng)))
            if on_step is not None:
                on_step(self.step)
            if not self._report_due():
                continue
            now = time.perf_counter()
            report = self._report(window, now - mark_time, self.sequences - mark_seqs)
            report = self._observe_curriculum(report)
            report = self._evaluate_if_due(report)
            if self.scheduler.at_target and report.objective is not None:
                self._maybe_decay_lr(report.objective)  # the report keeps the lr it was made with
            report = self._apply_stop_rule(report)
            self.elapsed += now - mark_time
            mark_time, mark_seqs, window = now, self.sequences, []
            self.history.append(report.to_dict())
            stop = on_report(report) if on_report is not None else False
            if stop or report.stop_reason is not None:
                break
        return self.history

    def _last_step(self) -> bool:
        return self.config.train.steps > 0 and self.step >= self.config.train.steps

    def _report_due(self) -> bool:
        return self.step % self.config.train.report_every == 0 or self._last_step()

    def _report(
        self, window: list[tuple[float, float, float]], seconds: float, seqs: int
    ) -> Report:
        """The training metrics of the steps in ``window`` (the curriculum's level to come)."""
        n = len(window)
        return Report(
            step=self.step,
            sequences=self.sequences,
            level=self.scheduler.level,
            loss=sum(w[0] for w in window) / n,
            bit_errors=sum(w[1] for w in window) / n,
            grad_norm=max(w[2] for w in window),
            seq_per_sec=seqs / max(seconds, 1e-9),
            elapsed=self.elapsed + seconds,
            engine=engine_in_use(self.engine, self.config.model),
            lr=float(self.optimizer.param_groups[0]["lr"]),
        )

    def _observe_curriculum(self, report: Report) -> Report:
        """The curriculum sees the report's loss and bit errors; the report takes its level."""
        metrics = {"loss": report.loss, "bit_errors": report.bit_errors}
        metrics["sequences"] = float(self.sequences)
        decision = self.scheduler.observe(self.step, metrics)
        return dataclasses.replace(report, level=decision.level)

    def _evaluate_if_due(self, report: Report) -> Report:
        """Every ``eval_every`` steps and at the last: the fixed evaluation batch's scores."""
        cfg = self.config.train
        if not (self.step % cfg.eval_every < cfg.report_every or self._last_step()):
            return report
        scores = self.evaluate()
        named = ("loss", "bit_errors", "objective")
        return dataclasses.replace(
            report,
            eval_loss=scores.get("loss"),
            eval_bit_errors=scores.get("bit_errors"),
            objective=scores.get("objective"),
            eval_scores={k: v for k, v in scores.items() if k not in named},
        )

    def _maybe_decay_lr(self, objective: float) -> None:
        """Apply ``lr_decay_on_solve`` once, when the target level is first solved (the
        objective under ``SOLVED_BIT_ERRORS``; the caller checks the level)."""
        factor = self.config.train.lr_decay_on_solve
        if factor < 1.0 and not self.lr_decayed and objective < SOLVED_BIT_ERRORS:
            for group in self.optimizer.param_groups:
                group["lr"] *= factor
            self.lr_decayed = True

    def _apply_stop_rule(self, report: Report) -> Report:
        """``ntm.stopping``'s reason (or None) for this report to be the run's last."""
        target = self.scheduler.target_level
        history = [*self.history, report.to_dict()]
        reason = stop_reason(self.config.train, history, target_level=target)
        return dataclasses.replace(report, stop_reason=reason)

    # -- hyperparameters changed mid-run (population-based training's explore step) ----------
    def set_hyperparameters(
        self, *, lr: float | None = None, curriculum_params: Mapping[str, Any] | None = None
    ) -> None:
        """Change the lr and curriculum parameters of a running (or just restored) run, keeping
        its weights, optimizer moments, curriculum state and RNGs (``ntm.build.retune``; a
        refused value raises its ValueError and changes nothing). Every optimizer group gets
        the new ``lr``, times ``lr_decay_on_solve`` if that decay was already applied."""
        self.config, self.scheduler = retune(
            self.config, self.scheduler, lr=lr, curriculum_params=curriculum_params
        )
        train = self.config.train
        applied = train.lr * (train.lr_decay_on_solve if self.lr_decayed else 1.0)
        for group in self.optimizer.param_groups:
            group["lr"] = applied

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": rng_state(self.data_rng, self.level_rng),
            "step": self.step,
            "sequences": self.sequences,
            "elapsed": self.elapsed,
            "curriculum": self.scheduler.state_dict(),
            "history": self.history,
            "lr_decayed": self.lr_decayed,
        }

    def save(self, path: str | Path) -> Path:
        return save_atomic(self.state_dict(), path)

    @classmethod
    def from_checkpoint(cls, path: str | Path, **train_overrides: Any) -> Trainer:
        """Resume a run exactly where its checkpoint left it (optionally extending ``steps``...)."""
        ckpt = load_checkpoint(path)
        config = RunConfig.from_dict(ckpt["config"])
        train = dataclasses.replace(config.train, **train_overrides)  # e.g. more steps
        trainer = cls(dataclasses.replace(config, train=train))
        trainer.model.load_state_dict(ckpt["model"])
        trainer.optimizer.load_state_dict(ckpt["optimizer"])
        restore_rng_state(ckpt["rng"], trainer.data_rng, trainer.level_rng)
        trainer.step, trainer.sequences = ckpt["step"], ckpt["sequences"]
        trainer.elapsed = ckpt["elapsed"]
        trainer.scheduler.load_state_dict(ckpt["curriculum"])
        trainer.history = list(ckpt["history"])
        trainer.lr_decayed = bool(ckpt.get("lr_decayed", False))
        return trainer
