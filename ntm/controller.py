"""Controllers: an LSTM in plain tensor ops, or a feedforward network.

The controller sees [x_t, r_{t-1}] (the task input and the previous reads). The part of the
first layer that multiplies x_t is exposed separately (``project_inputs``) so a trainer can
apply it to all time steps in one matrix product when the inputs are known in advance.
The LSTM is written in plain ops (not ``nn.LSTMCell``) so the step stays vmap-able.
``controller_step`` is the step as a pure function of ``ControllerWeights``: the module and
the fast engines (``ntm.engines``) both call it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ntm.config import NTMConfig

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def activation_slope(activation: str, y: torch.Tensor) -> torch.Tensor:
    """The derivative of ``activation`` at the point where it output y (same shape as y)."""
    if activation == "relu":
        return (y > 0).to(y.dtype)
    return 1.0 - y * y if activation == "tanh" else y * (1.0 - y)


class ControllerWeights(NamedTuple):
    """w_r: [G, R*M] (reads into layer 0); bias: [L, G] (row 0 rides on x_proj);
    w_in: L-1 x [G, C] (layer l-1 into layer l); w_h: L x [4C, C] recurrent (LSTM) or ()."""

    w_r: torch.Tensor
    bias: torch.Tensor
    w_in: tuple[torch.Tensor, ...]
    w_h: tuple[torch.Tensor, ...]


class LayerSaved(NamedTuple):
    """One layer's activations, kept for the hand-written backward.

    below: the layer's input [B, *] (r_{t-1} flattened for layer 0, else h of layer l-1);
    h: its output h_t [B, C]; LSTM only (else None): gates, sigmoid of the four gate
    pre-activations [B, 4C] (the g quarter unused), cand = tanh(g) [B, C] and
    tanh_c = tanh(c_t) [B, C].
    """

    below: torch.Tensor
    h: torch.Tensor
    gates: torch.Tensor | None
    cand: torch.Tensor | None
    tanh_c: torch.Tensor | None


def controller_step(
    wt: ControllerWeights,
    x_proj: torch.Tensor,
    reads: torch.Tensor,
    h: tuple[torch.Tensor, ...],
    c: tuple[torch.Tensor, ...],
    *,
    lstm: bool,
    activation: str,
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], tuple[LayerSaved, ...]]:
    """x_proj: [B, G], reads r_{t-1}: [B, R*M], h, c: per layer [B, C] -> (h', c', saved).

    Layer 0's pre-activation is x_proj + r W_r^T; layer l's is bias_l + h'_{l-1} W_in^T.
    LSTM: gates = pre + h_{t-1} W_h^T = [i, f, g, o]; c' = s(f) c + s(i) tanh(g);
    h' = s(o) tanh(c'). Feedforward: h' = activation(pre). The output is h'[-1].
    """
    size = wt.bias.shape[1] // 4 if lstm else 0
    pre = torch.addmm(x_proj, reads, wt.w_r.t())  # [B, G]
    below = reads
    new_h: list[torch.Tensor] = []
    new_c: list[torch.Tensor] = []
    saved: list[LayerSaved] = []
    for layer in range(len(h)):
        if layer > 0:
            below = new_h[-1]
            pre = torch.addmm(wt.bias[layer], below, wt.w_in[layer - 1].t())
        if lstm:
            gates = torch.addmm(pre, h[layer], wt.w_h[layer].t())  # [B, 4C]
            sig = torch.sigmoid(gates)  # the g quarter is unused
            cand = torch.tanh(gates[:, 2 * size : 3 * size])  # [B, C]
            cell = sig[:, size : 2 * size] * c[layer] + sig[:, :size] * cand
            tanh_c = torch.tanh(cell)
            new_h.append(sig[:, 3 * size :] * tanh_c)
            new_c.append(cell)
            saved.append(LayerSaved(below, new_h[-1], sig, cand, tanh_c))
        else:
            new_h.append(_ACTIVATIONS[activation](pre))
            saved.append(LayerSaved(below, new_h[-1], None, None, None))
    return tuple(new_h), tuple(new_c), tuple(saved)


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
        self.lstm = config.controller == "lstm"
        self.activation = config.activation
        self.size = config.controller_size
        self.layers = config.controller_layers
        gates = 4 if self.lstm else 1
        reads = config.read_heads * config.memory_m
        first_in = config.input_size + reads
        recurrent = self.size if self.lstm else 0
        self.w_x = _uniform((gates * self.size, config.input_size), first_in + recurrent)
        self.w_r = _uniform((gates * self.size, reads), first_in + recurrent)
        bias = torch.zeros(self.layers, gates * self.size)
        if self.lstm:
            bias[:, self.size : 2 * self.size] = 1.0  # forget-gate bias 1 (Gers et al. 2000)
        self.bias = nn.Parameter(bias)
        # Layer l > 0 input weights, and (LSTM) every layer's recurrent weights.
        self.w_in = nn.ParameterList(
            _uniform((gates * self.size, self.size), self.size + recurrent)
            for _ in range(self.layers - 1)
        )
        self.w_h = nn.ParameterList(
            _uniform((gates * self.size, self.size), first_in + recurrent)
            for _ in range(self.layers if self.lstm else 0)
        )

    def weights(self) -> ControllerWeights:
        """The recurrent weights as the pure ``controller_step`` takes them."""
        return ControllerWeights(self.w_r, self.bias, tuple(self.w_in), tuple(self.w_h))

    def project_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """x: [..., I] -> [..., G], the first layer's input term plus its bias."""
        return torch.nn.functional.linear(x, self.w_x, self.bias[0])

    def initial(self, batch: int, device: torch.device) -> tuple[tuple[torch.Tensor, ...], ...]:
        """(h, c) at t = 0: zeros [B, C] per layer, in the weights' dtype (c empty: feedforward)."""
        dtype = self.w_r.dtype
        zeros = tuple(
            torch.zeros(batch, self.size, device=device, dtype=dtype) for _ in range(self.layers)
        )
        return (zeros, zeros if self.lstm else ())

    def step(
        self,
        x_proj: torch.Tensor,
        reads: torch.Tensor,
        h: tuple[torch.Tensor, ...],
        c: tuple[torch.Tensor, ...],
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        new_h, new_c, _ = controller_step(
            self.weights(), x_proj, reads, h, c, lstm=self.lstm, activation=self.activation
        )
        return new_h[-1], new_h, new_c
