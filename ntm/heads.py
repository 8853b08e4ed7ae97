"""All heads' parameters from one projection of the controller output (section 3.3).

Read heads come first, then write heads, so one addressing call serves every head. For H
heads in total (H = R + W) of which W write, the projection emits, in this order:
keys H*M, beta H, gate H, shift H*(2s+1), gamma H, erase W*M, add W*M.
``squash`` maps that raw projection to ``HeadParams``; the module and the fast engines
(``ntm.engines``) both call it.
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


def projection_sizes(config: NTMConfig) -> tuple[int, ...]:
    """The projection's split, in ``HeadParams`` order: (H*M, H, H, H*(2s+1), H, W*M, W*M)."""
    h, w, m = config.read_heads + config.write_heads, config.write_heads, config.memory_m
    return (h * m, h, h, h * config.num_shifts, h, w * m, w * m)


def squash(raw: torch.Tensor, sizes: tuple[int, ...], m: int) -> HeadParams:
    """raw: [B, K] (the projection, split by ``sizes``; M = m) -> every head's parameters.

    beta = softplus, gate = sigmoid, shift = softmax, gamma = 1 + softplus, erase = sigmoid.
    """
    b, heads, writes = raw.shape[0], sizes[1], sizes[5] // m
    key, beta, gate, shift, gamma, erase, add = raw.split(sizes, dim=-1)
    return HeadParams(
        key=key.reshape(b, heads, m),  # [B, H, M]
        beta=F.softplus(beta),
        gate=torch.sigmoid(gate),
        shift=torch.softmax(shift.reshape(b, heads, -1), dim=-1),  # [B, H, 2s+1]
        gamma=1.0 + F.softplus(gamma),
        erase=torch.sigmoid(erase).reshape(b, writes, m),  # [B, W, M]
        add=add.reshape(b, writes, m),  # [B, W, M]
    )


class Heads(nn.Module):
    """The heads' weights: the linear map controller output [B, C] -> raw head parameters
    [B, K] (K = sum of ``projection_sizes``) for R read and W write heads. ``cell_step``
    applies it and ``squash`` turns the result into ``HeadParams``."""

    def __init__(self, config: NTMConfig) -> None:
        super().__init__()
        self.proj = nn.Linear(config.controller_size, sum(projection_sizes(config)))
