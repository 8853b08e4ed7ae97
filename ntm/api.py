"""``ntm.load``: a checkpoint or exported model, ready for inference."""

from __future__ import annotations

import os
from typing import NamedTuple

import torch

from ntm.baseline import Model
from ntm.build import build_run
from ntm.checkpoint import CheckpointError, load_checkpoint
from ntm.tasks import Task
from ntm.train_config import RunConfig


class Loaded(NamedTuple):
    """A ready model (eval mode, on ``device``), its task and the run's full configuration."""

    model: Model  # an NTM, or the LSTM baseline for model='lstm'
    task: Task
    config: RunConfig


def load(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Loaded:
    """Load a training checkpoint or an export directory (``DIR/model.pt``).

    >>> model, task, config = ntm.load("export/")                    # doctest: +SKIP
    >>> batch = task.sample_exact(4, 20, torch.Generator().manual_seed(0))
    >>> bits = torch.sigmoid(model.forward_sequence(batch.inputs)[0]) > 0.5

    Loading uses ``torch.load(weights_only=True)``: no code in the file is executed.
    Raises CheckpointError (a ValueError) for a missing, corrupt or tampered file.
    """
    ckpt = load_checkpoint(path)
    try:
        config = RunConfig.from_dict(ckpt["config"])
        _, task, model, _ = build_run(config)
        model.load_state_dict(ckpt["model"])
    except (TypeError, KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} does not match its config: {exc}") from None
    return Loaded(model.to(device).eval(), task, config)
