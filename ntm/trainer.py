"""One straight training loop: sample, forward, masked loss, backward, check, clip, step, report.

The run is built by ``ntm.build.build_run``; when it stops is decided by ``ntm.stopping``
(steps, time or solved, at report boundaries), and each report says why it was the last.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from curricula import make_scheduler
from ntm.build import build_run, make_optimizer
from ntm.checkpoint import FORMAT, load_checkpoint, save_atomic
from ntm.engines import engine_in_use, resolve_engine, sequence_logits
from ntm.events import NonFiniteError
from ntm.metrics import LN2, bit_errors, sequence_cost_nats
from ntm.model import NTM
from ntm.report import Report
from ntm.stopping import stop_reason
from ntm.tasks import SOLVED_BIT_ERRORS, Batch, task_scores
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
        self._names = [n for n, _ in self.model.named_parameters()]

    # -- one step ---------------------------------------------------------------------------
    def _engine(self) -> str:
        """The next train step's forward/backward, e.g. "compiled" (``ntm.engines``: ``auto``
        depends on the steps made so far; the LSTM baseline always runs eager)."""
        train = self.config.train
        return resolve_engine(
            train.engine, self.device, done=self.step, model=self.config.model.model
        )

    def batch_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cost in nats per sequence (the training loss) and bit errors per sequence [B]."""
        if isinstance(self.model, NTM):
            logits = sequence_logits(self.model, batch.inputs, self.engine)  # [T, B, O]
        else:
            logits = self.model.forward_sequence(batch.inputs)[0]  # [T, B, O]
        cost = sequence_cost_nats(logits, batch.targets, batch.mask)  # [B]
        return cost.mean(), bit_errors(logits.detach(), batch.targets, batch.mask)

    def train_step(self, level: int) -> tuple[float, float, float]:
        """One optimizer step at ``level``; returns (bits/seq, bit errors/seq, grad norm)."""
        cfg = self.config.train
        batch = self.task.sample(cfg.batch_size, level, self.data_rng).to(self.device)
        self.engine = self._engine()
        loss, errors = self.batch_loss(batch)
        if cfg.inject_nan_at_step is not None and self.step + 1 == cfg.inject_nan_at_step:
            loss = loss * float("nan")  # documented fault injection: real NaN gradients
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if cfg.clip == "norm":
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_value)
        else:
            norm = torch.nn.utils.get_total_norm(grads)
        loss_value, norm_value = float(loss.detach()), float(norm)
        if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
            raise NonFiniteError(
                step=self.step + 1,
                level=level,
                loss=loss_value,
                parameters=self._nonfinite_parameters(),
            )
        if cfg.clip == "value":
            torch.nn.utils.clip_grad_value_(self.model.parameters(), cfg.clip_value)
        self.optimizer.step()
        self.step += 1
        self.sequences += batch.batch_size
        bits = loss_value / LN2
        self.scheduler.record_batch(level, bits)
        return bits, float(errors.mean()), norm_value

    def _nonfinite_parameters(self) -> list[str]:
        return [
            name
            for name, p in self.model.named_parameters()
            if p.grad is not None and not bool(torch.isfinite(p.grad).all())
        ]

    # -- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
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
        if size is not None:
            batch = self.task.sample_exact(n, size, gen)
        else:
            batch = self.task.sample(n, level or self.task.max_level, gen)
        batch = batch.to(self.device)
        logits, _, _ = self.model.forward_sequence(batch.inputs)
        return task_scores(self.task, logits, batch)

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        on_report: Callable[[Report], bool | None] | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Train until a stop rule of ``ntm.stopping`` holds at a report; returns the history.

        ``on_report`` is called after every report (the last one has ``stop_reason`` set);
        returning True stops training. ``on_step(step)`` is called after every optimizer step
        (a progress bar). NonFiniteError propagates at the step where it happens.
        """
        cfg = self.config.train
        window: list[tuple[float, float, float]] = []
        mark_time, mark_seqs = time.perf_counter(), self.sequences
        while cfg.steps == 0 or self.step < cfg.steps:
            level = self.scheduler.next_level(self.level_rng)
            window.append(self.train_step(level))
            if on_step is not None:
                on_step(self.step)
            if self.step % cfg.report_every and not self._last_step():
                continue
            now = time.perf_counter()
            report = self._report(window, now - mark_time, self.sequences - mark_seqs)
            self.elapsed += now - mark_time
            mark_time, mark_seqs, window = now, self.sequences, []
            self.history.append(report.to_dict())
            stop = on_report(report) if on_report is not None else False
            if stop or report.stop_reason is not None:
                break
        return self.history

    def _last_step(self) -> bool:
        return self.config.train.steps > 0 and self.step >= self.config.train.steps

    def _report(
        self, window: list[tuple[float, float, float]], seconds: float, seqs: int
    ) -> Report:
        cfg = self.config.train
        n = len(window)
        loss = sum(w[0] for w in window) / n
        errors = sum(w[1] for w in window) / n
        decision = self.scheduler.observe(
            self.step, {"loss": loss, "bit_errors": errors, "sequences": float(self.sequences)}
        )
        evaluation: dict[str, float] = {}
        extra: dict[str, float] | None = None
        if self.step % cfg.eval_every < cfg.report_every or self._last_step():
            evaluation = self.evaluate()
            named = ("loss", "bit_errors", "objective")
            extra = {k: v for k, v in evaluation.items() if k not in named}
        report = Report(
            step=self.step,
            sequences=self.sequences,
            level=decision.level,
            loss=loss,
            bit_errors=errors,
            grad_norm=max(w[2] for w in window),
            seq_per_sec=seqs / max(seconds, 1e-9),
            elapsed=self.elapsed + seconds,
            eval_loss=evaluation.get("loss"),
            eval_bit_errors=evaluation.get("bit_errors"),
            objective=evaluation.get("objective"),
            eval_scores=extra,
            engine=engine_in_use(self.engine, self.config.model),
            lr=float(self.optimizer.param_groups[0]["lr"]),
        )
        if self.scheduler.at_target and report.objective is not None:
            self._maybe_decay_lr(report.objective)
        target = self.scheduler.target_level
        reason = stop_reason(cfg, [*self.history, report.to_dict()], target_level=target)
        return dataclasses.replace(report, stop_reason=reason)

    def _maybe_decay_lr(self, objective: float) -> None:
        """Apply ``lr_decay_on_solve`` once, when the target level is first solved (the
        objective under ``SOLVED_BIT_ERRORS``; the caller checks the level)."""
        factor = self.config.train.lr_decay_on_solve
        if factor < 1.0 and not self.lr_decayed and objective < SOLVED_BIT_ERRORS:
            for group in self.optimizer.param_groups:
                group["lr"] *= factor
            self.lr_decayed = True

    # -- hyperparameters changed mid-run (population-based training's explore step) ----------
    def set_hyperparameters(
        self, *, lr: float | None = None, curriculum_params: Mapping[str, Any] | None = None
    ) -> None:
        """Change the learning rate and curriculum parameters of a running (or just restored)
        run, keeping its weights, optimizer moments, curriculum state and RNGs.

        ``lr`` becomes the config's ``lr`` and every optimizer group's rate (times
        ``lr_decay_on_solve`` if that decay was already applied). ``curriculum_params``
        update the curriculum's parameters (others keep their values): the scheduler is
        rebuilt from the updated config and given the old one's state, so its level, best
        loss and counters carry over and the new parameters rule from the next report on.
        ``self.config`` (saved in checkpoints) records the new values. A value the config
        refuses raises its ValueError and changes nothing.
        """
        train, curriculum = self.config.train, self.config.curriculum
        if lr is not None:
            train = dataclasses.replace(train, lr=float(lr))
        if curriculum_params:
            params = {**curriculum.params, **curriculum_params}
            curriculum = dataclasses.replace(curriculum, params=params)
        scheduler = make_scheduler(curriculum)  # checks the parameters before any change
        scheduler.load_state_dict(self.scheduler.state_dict())
        self.config = dataclasses.replace(self.config, train=train, curriculum=curriculum)
        self.scheduler = scheduler
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
            "rng": {
                "data": self.data_rng.get_state(),
                "level": list(self.level_rng.getstate()[1]),
                "level_version": self.level_rng.getstate()[0],
                "torch": torch.get_rng_state(),
            },
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
        if train_overrides:
            config = dataclasses.replace(
                config, train=dataclasses.replace(config.train, **train_overrides)
            )
        trainer = cls(config)
        trainer.model.load_state_dict(ckpt["model"])
        trainer.optimizer.load_state_dict(ckpt["optimizer"])
        rng = ckpt["rng"]
        trainer.data_rng.set_state(rng["data"])
        trainer.level_rng.setstate((rng["level_version"], tuple(rng["level"]), None))
        torch.set_rng_state(rng["torch"])
        trainer.step, trainer.sequences = ckpt["step"], ckpt["sequences"]
        trainer.elapsed = ckpt["elapsed"]
        trainer.scheduler.load_state_dict(ckpt["curriculum"])
        trainer.history = list(ckpt["history"])
        trainer.lr_decayed = bool(ckpt.get("lr_decayed", False))
        return trainer
