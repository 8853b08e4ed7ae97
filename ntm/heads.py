"""All heads' parameters from one projection of the controller output (section 3.3).

Read heads come first, then write heads, so one addressing call serves every head. For H
heads in total (H = R + W) of which W write, the projection emits, in this order:
keys H*M, beta H, gate H, shift H*(2s+1), gamma H, erase W*M, add W*M.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ntm.config import NTMConfig


class HeadParams(NamedTuple):
    """Squashed head parameters for every head.

    key: [B, H, M]; beta (>= 0), gate (0..1), gamma (>= 1): [B, H];
    shift: [B, H, 2s+1] (softmax); erase (0..1), add: [B, W, M].
    """

    key: torch.Tensor
    beta: torch.Tensor
    gate: torch.Tensor
    shift: torch.Tensor
    gamma: torch.Tensor
    erase: torch.Tensor
    add: torch.Tensor


class Heads(nn.Module):
    """Linear map controller output [B, C] -> HeadParams for R read and W write heads."""

    def __init__(self, config: NTMConfig) -> None:
        super().__init__()
        m, s = config.memory_m, config.num_shifts
        self.heads = config.read_heads + config.write_heads
        self.writes = config.write_heads
        self.m, self.s = m, s
        h, w = self.heads, self.writes
        self.sizes = [h * m, h, h, h * s, h, w * m, w * m]
        self.proj = nn.Linear(config.controller_size, sum(self.sizes))

    def forward(self, out: torch.Tensor) -> HeadParams:
        b = out.shape[0]
        key, beta, gate, shift, gamma, erase, add = self.proj(out).split(self.sizes, dim=-1)
        return HeadParams(
            key=key.view(b, self.heads, self.m),  # [B, H, M]
            beta=F.softplus(beta),
            gate=torch.sigmoid(gate),
            shift=torch.softmax(shift.view(b, self.heads, self.s), dim=-1),  # [B, H, 2s+1]
            gamma=1.0 + F.softplus(gamma),
            erase=torch.sigmoid(erase).view(b, self.writes, self.m),  # [B, W, M]
            add=add.view(b, self.writes, self.m),  # [B, W, M]
        )
