"""The frozen configuration of one training run: task, model, curriculum and optimisation."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curricula import CurriculumConfig
from ntm.config import NTMConfig, from_mapping
from ntm.engines import check_engine
from ntm.errors import require
from ntm.tasks import TaskConfig

OPTIMIZERS = ("rmsprop", "adam")
CLIPS = ("norm", "value", "none")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and run-length settings.

    optimizer: ``rmsprop`` (paper: lr 1e-4, momentum 0.9) or ``adam``.
    rmsprop_alpha: RMSprop's smoothing constant of the squared-gradient average (torch's
        default 0.99; Graves 2013 and pytorch-ntm use 0.95).
    rmsprop_centered: RMSprop normalised by the gradient's variance rather than its second
        moment (Graves 2013, eq. 38-41; ``torch.optim.RMSprop(centered=True)``).
    clip: ``norm`` (clip the global gradient norm to clip_value), ``value`` (clamp every
        gradient element to +-clip_value) or ``none``.
    steps / max_seconds: stop after whichever comes first (0 = no limit on that one).
    stop_bit_errors: stop early once the objective at the target level is below this for
        ``solved_reports`` reports in a row (None = never stop early). The stop rules are
        written down in ``ntm.stopping``.
    lr_decay_on_solve: multiply the learning rate by this, once, when the evaluation at the
        target level first falls under ``ntm.tasks.SOLVED_BIT_ERRORS`` (0.1 bit errors per sequence;
        1.0 = off). Solving is the easy
        half; a lower rate afterwards is one way to stay solved (benchmarks/RESULTS.md).
    inject_nan_at_step: fault injection for tests and demos: at that step the loss is
        multiplied by NaN before backward, so the gradients turn non-finite for real.
    engine: how the training forward/backward runs (``ntm.engines``): ``auto`` (the fastest
        safe engine for the device), ``eager``, ``manual`` or ``compiled``.
    """

    optimizer: str = "adam"
    lr: float = 5e-3
    momentum: float = 0.9
    rmsprop_alpha: float = 0.99
    rmsprop_centered: bool = False
    batch_size: int = 16
    clip: str = "norm"
    clip_value: float = 10.0
    steps: int = 2000
    max_seconds: float = 0.0
    report_every: int = 50
    eval_every: int = 200
    eval_batch: int = 64
    stop_bit_errors: float | None = None
    solved_reports: int = 1
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    lr_decay_on_solve: float = 1.0
    inject_nan_at_step: int | None = None
    engine: str = "auto"

    def __post_init__(self) -> None:
        require(
            self.optimizer in OPTIMIZERS,
            f"optimizer must be one of {list(OPTIMIZERS)}, but got optimizer={self.optimizer!r}.",
        )
        require(
            self.clip in CLIPS, f"clip must be one of {list(CLIPS)}, but got clip={self.clip!r}."
        )
        check_engine(self.engine)
        require(self.lr > 0, f"lr must be > 0, but got lr={self.lr}.")
        require(
            0 <= self.momentum < 1, f"momentum must be in [0, 1), but got momentum={self.momentum}."
        )
        require(
            0 < self.rmsprop_alpha < 1,
            f"rmsprop_alpha must be in (0, 1), but got rmsprop_alpha={self.rmsprop_alpha}.",
        )
        require(
            isinstance(self.rmsprop_centered, bool),
            "rmsprop_centered must be one of [True, False], "
            f"but got rmsprop_centered={self.rmsprop_centered!r}.",
        )
        require(
            self.clip_value > 0, f"clip_value must be > 0, but got clip_value={self.clip_value}."
        )
        for name in (
            "batch_size",
            "report_every",
            "eval_every",
            "eval_batch",
            "threads",
            "solved_reports",
        ):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be >= 1, but got {name}={value}.")
        require(self.steps >= 0, f"steps must be >= 0, but got steps={self.steps}.")
        require(
            self.max_seconds >= 0,
            f"max_seconds must be >= 0, but got max_seconds={self.max_seconds}.",
        )
        require(
            0 < self.lr_decay_on_solve <= 1,
            "lr_decay_on_solve must be in (0, 1], "
            f"but got lr_decay_on_solve={self.lr_decay_on_solve}.",
        )


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs; built once at the entry point and passed down."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: NTMConfig = field(default_factory=NTMConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_engine(self.train.engine, model=self.model.model)  # lstm: auto or eager

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the form stored in checkpoints and logged as params)."""
        out = dataclasses.asdict(self)
        out["task"]["params"] = dict(self.task.params)
        out["curriculum"]["params"] = dict(self.curriculum.params)
        return out

    @staticmethod
    def from_dict(values: Mapping[str, Any]) -> RunConfig:
        valid = {"task", "model", "curriculum", "train"}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(
                f"unknown run config key(s) {unknown}; valid keys are {sorted(valid)}."
            )
        return RunConfig(
            task=from_mapping(TaskConfig, values.get("task", {}), what="task"),
            model=from_mapping(NTMConfig, values.get("model", {}), what="model"),
            curriculum=from_mapping(
                CurriculumConfig, values.get("curriculum", {}), what="curriculum"
            ),
            train=from_mapping(TrainConfig, values.get("train", {}), what="train"),
        )


def load_run_config(path: str | Path) -> RunConfig:
    """The RunConfig in a JSON file (``RunConfig.to_dict()``), e.g. an export's
    ``config.json``; ``path`` may be the export directory. ValueError names what is wrong."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        raise ValueError(f"--config: no such file: {p}")
    try:
        values = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"--config: {p} is not a JSON run config ({exc})") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config: {p} must hold a JSON object with keys task, model, ...")
    return RunConfig.from_dict(values)
