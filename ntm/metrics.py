"""Masked loss and metrics in the units of the NTM literature: bits per sequence.

The maths only, on tensors: the tasks build on it (``ntm.tasks.task_scores`` adds each
task's own scores and objective), so this module imports no task.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

LN2 = math.log(2.0)


def sequence_cost_nats(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Binary cross-entropy summed over each sequence's scored steps and bits.

    logits, targets: [T, B, O]; mask: [T, B] -> [B] nats per sequence. Padded steps
    (mask 0) contribute exactly zero, so a mixed-length batch costs what each sequence
    would cost alone.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # [T, B, O]
    return (bce.sum(-1) * mask).sum(0)


def bit_errors(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Thresholded output bits that differ from the target, per sequence.

    logits, targets: [T, B, O]; mask: [T, B] -> [B] (float) bit errors per sequence.
    """
    wrong = ((logits > 0).to(targets.dtype) != (targets > 0.5).to(targets.dtype)).to(logits.dtype)
    return (wrong.sum(-1) * mask).sum(0)


def batch_scores(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> dict[str, float]:
    """Mean cost (bits per sequence) and mean bit errors per sequence of one scored batch.

    logits, targets: [T, B, O]; mask: [T, B] -> {"loss": bits, "bit_errors": errors}.
    """
    cost = sequence_cost_nats(logits, targets, mask)  # [B]
    errors = bit_errors(logits, targets, mask)  # [B]
    return {"loss": float(cost.mean()) / LN2, "bit_errors": float(errors.mean())}
