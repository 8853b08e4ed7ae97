"""Controllers: an LSTM in plain tensor ops, or a feedforward network.

The controller sees [x_t, r_{t-1}] (the task input and the previous reads). The part of the
first layer that multiplies x_t is exposed separately (``project_inputs``) so a trainer can
apply it to all time steps in one matrix product when the inputs are known in advance.
The LSTM is written in plain ops (not ``nn.LSTMCell``) so the step stays vmap-able.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ntm.config import NTMConfig

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class Controller(nn.Module):
    """LSTM (``controller='lstm'``) or feedforward controller of ``controller_layers`` layers.

    step(x_proj [B, G], reads [B, R*M], h, c) -> (out [B, C], h', c') where G = 4C (LSTM)
    or C (feedforward), h and c are tuples with one [B, C] tensor per layer (c empty for
    feedforward).
    """

    def __init__(self, config: NTMConfig) -> None:
        super().__init__()
        self.kind = config.controller
        self.size = config.controller_size
        self.layers = config.controller_layers
        self.activation = _ACTIVATIONS[config.activation]
        gates = 4 if self.kind == "lstm" else 1
        reads = config.read_heads * config.memory_m
        first_in = config.input_size + reads
        recurrent = self.size if self.kind == "lstm" else 0
        self.w_x = _uniform((gates * self.size, config.input_size), first_in + recurrent)
        self.w_r = _uniform((gates * self.size, reads), first_in + recurrent)
        bias = torch.zeros(self.layers, gates * self.size)
        if self.kind == "lstm":
            bias[:, self.size : 2 * self.size] = 1.0  # forget-gate bias 1 (Gers et al. 2000)
        self.bias = nn.Parameter(bias)
        # Layer l > 0 input weights, and (LSTM) every layer's recurrent weights.
        self.w_in = nn.ParameterList(
            _uniform((gates * self.size, self.size), self.size + recurrent)
            for _ in range(self.layers - 1)
        )
        self.w_h = nn.ParameterList(
            _uniform((gates * self.size, self.size), first_in + recurrent)
            for _ in range(self.layers if self.kind == "lstm" else 0)
        )

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """x: [..., I] -> [..., G], the first layer's input term plus its bias."""
        return torch.nn.functional.linear(x, self.w_x, self.bias[0])

    def initial(self, batch: int, device: torch.device) -> tuple[tuple[torch.Tensor, ...], ...]:
        zeros = tuple(torch.zeros(batch, self.size, device=device) for _ in range(self.layers))
        return (zeros, zeros if self.kind == "lstm" else ())

    def step(
        self,
        x_proj: torch.Tensor,
        reads: torch.Tensor,
        h: tuple[torch.Tensor, ...],
        c: tuple[torch.Tensor, ...],
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        pre = torch.addmm(x_proj, reads, self.w_r.t())  # [B, G]
        new_h: list[torch.Tensor] = []
        new_c: list[torch.Tensor] = []
        for layer in range(self.layers):
            if layer > 0:
                pre = torch.addmm(self.bias[layer], new_h[-1], self.w_in[layer - 1].t())
            if self.kind == "lstm":
                gates = torch.addmm(pre, h[layer], self.w_h[layer].t())  # [B, 4C]
                i, f, g, o = gates.chunk(4, dim=-1)  # each [B, C]
                cell = torch.sigmoid(f) * c[layer] + torch.sigmoid(i) * torch.tanh(g)
                new_c.append(cell)
                new_h.append(torch.sigmoid(o) * torch.tanh(cell))
            else:
                new_h.append(self.activation(pre))
        return new_h[-1], tuple(new_h), tuple(new_c)
