"""The pieces of one optimizer step: the loss of a batch, then the gradients' norm, the
non-finite check and clipping (``ntm.trainer.Trainer.train_step`` runs them in order).

``batch_loss`` runs the forward through the chosen engine (``ntm.engines``; the LSTM baseline
has only its eager forward).

``TrainConfig.clip`` chooses ``"norm"`` (``clip_grad_norm_``, which also gives the norm),
``"value"`` (``clip_grad_value_`` after the check) or no clipping. A non-finite loss or norm
raises ``NonFiniteError`` before any value clipping and before the optimizer step, so the
model keeps its last finite weights.
"""

from __future__ import annotations

import math

import torch

from ntm.baseline import Model
from ntm.engines import sequence_logits
from ntm.events import NonFiniteError
from ntm.metrics import bit_errors, sequence_cost_nats
from ntm.model import NTM
from ntm.tasks import Batch

__all__ = ["batch_loss", "check_and_clip", "nonfinite_parameters"]


def batch_loss(model: Model, batch: Batch, engine: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cost in nats per sequence (the training loss) and bit errors per sequence [B]."""
    if isinstance(model, NTM):
        logits = sequence_logits(model, batch.inputs, engine)  # [T, B, O]
    else:
        logits = model.forward_sequence(batch.inputs)[0]  # [T, B, O]
    cost = sequence_cost_nats(logits, batch.targets, batch.mask)  # [B]
    return cost.mean(), bit_errors(logits.detach(), batch.targets, batch.mask)


def check_and_clip(
    model: torch.nn.Module,
    loss: float,
    clip: str,
    clip_value: float,
    *,
    step: int,
    level: int,
) -> float:
    """The gradients' total norm (before clipping); NonFiniteError at ``step`` (``level``)
    if ``loss`` or the norm is NaN or inf."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if clip == "norm":
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_value)
    else:
        norm = torch.nn.utils.get_total_norm(grads)
    norm_value = float(norm)
    if not (math.isfinite(loss) and math.isfinite(norm_value)):
        names = nonfinite_parameters(model)
        raise NonFiniteError(step=step, level=level, loss=loss, parameters=names)
    if clip == "value":
        torch.nn.utils.clip_grad_value_(model.parameters(), clip_value)
    return norm_value


def nonfinite_parameters(model: torch.nn.Module) -> list[str]:
    """The names of the parameters whose gradient holds a NaN or inf."""
    return [
        name
        for name, p in model.named_parameters()
        if p.grad is not None and not bool(torch.isfinite(p.grad).all())
    ]
