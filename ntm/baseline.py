"""The paper's baseline, a plain LSTM (``model='lstm'``), and ``make_model``, the one factory.

Graves et al. 2014 report every task beside an LSTM network without external memory. Here
that baseline is the NTM's own ``Controller`` with no memory and no heads: ``controller_size``
units in ``controller_layers`` layers, then a linear output layer. It has the NTM's interface
(``initial_state``, ``forward``, ``forward_sequence``), so the trainer, curricula, checkpoints,
search and ``ntm.load`` treat both alike. The memory and head fields of ``NTMConfig`` are
ignored, and it always trains with the ``eager`` engine (``ntm.engines`` are NTM-specific).

The controller always takes a read vector beside ``x_t``; the baseline's is one constant zero
channel, so that column of the controller's read weights never gets a gradient and the
network is exactly an LSTM (or feedforward net, ``controller='feedforward'``) over ``x_t``.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
from torch import nn

from ntm.config import NTMConfig
from ntm.controller import Controller
from ntm.model import NTM

_NO_READS = 1  # width of the baseline's constant zero "read vector" (the controller needs one)


class LSTMState(NamedTuple):
    """Immutable recurrent state: h, c: one [B, C] tensor per layer (c empty if feedforward)."""

    h: tuple[torch.Tensor, ...]
    c: tuple[torch.Tensor, ...]


class LSTMBaseline(nn.Module):
    """The controller alone: x_t -> controller -> logits y_t = W_o h_t + b_o.

    >>> model = LSTMBaseline(NTMConfig(model="lstm", input_size=9, output_size=8))
    >>> logits, state, trace = model.forward_sequence(torch.zeros(5, 4, 9))
    >>> tuple(logits.shape), trace is None
    ((5, 4, 8), True)
    """

    def __init__(self, config: NTMConfig) -> None:
        super().__init__()
        self.config = config
        self.controller = Controller(dataclasses.replace(config, read_heads=1, memory_m=_NO_READS))
        self.out = nn.Linear(config.controller_size, config.output_size)

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> LSTMState:
        """Zero state for ``batch`` sequences, on ``device`` (default: the parameters')."""
        dev = torch.device(device) if device is not None else self.out.weight.device
        h, c = self.controller.initial(batch, dev)
        return LSTMState(h, c)

    def _step(self, x_proj: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """x_proj: [B, G] (the controller's input term) -> (out [B, C], next state)."""
        reads = x_proj.new_zeros(x_proj.shape[0], _NO_READS)  # [B, 1], always zero
        out, h, c = self.controller.step(x_proj, reads, state.h, state.c)
        return out, LSTMState(h, c)

    def forward(self, x: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """One time step. x: [B, I] -> (logits y: [B, O], next state)."""
        out, state = self._step(self.controller.project_inputs(x), state)
        return self.out(out), state

    def forward_sequence(
        self, inputs: torch.Tensor, state: LSTMState | None = None, *, trace: bool = False
    ) -> tuple[torch.Tensor, LSTMState, None]:
        """A whole sequence. inputs: [T, B, I] -> (logits [T, B, O], final state, None).

        There is no memory to trace, so the third value is always None (``trace`` is
        accepted for the NTM's signature).
        """
        if state is None:
            state = self.initial_state(inputs.shape[1], inputs.device)
        outs: list[torch.Tensor] = []
        for x_t in self.controller.project_inputs(inputs).unbind(0):  # T tensors [B, G]
            out, state = self._step(x_t, state)
            outs.append(out)
        return self.out(torch.stack(outs)), state, None  # [T, B, O]


Model = NTM | LSTMBaseline


def make_model(config: NTMConfig) -> Model:
    """The model ``config.model`` names: ``NTM`` (``ntm``) or ``LSTMBaseline`` (``lstm``)."""
    if config.model == "lstm":
        return LSTMBaseline(config)
    return NTM(config)
