"""The NTM cell: controller, heads, memory, assembled as in Graves et al. 2014, figure 1.

One time step t, with state (M_{t-1}, w_{t-1}, r_{t-1}, controller state):
1. the controller reads [x_t, r_{t-1}] and emits out_t;
2. one projection of out_t gives every head's key, beta, g, s, gamma (and erase, add);
3. all heads (reads then writes) address M_{t-1} in one batched call;
4. read heads read r_t from M_{t-1}; write heads erase and add, giving M_t;
5. the output logits are y_t = W_o [out_t, r_t] + b_o (apply a sigmoid for probabilities).

Steps 1-4 are ``cell_step``, a pure function of (config, weights, input, state). The eager
model runs it under autograd; the fast engines (``ntm.engines``) run the same function
without autograd and keep the ``StepSaved`` it returns for their hand-written backward.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ntm import addressing
from ntm.config import NTMConfig
from ntm.controller import Controller, ControllerWeights, LayerSaved, controller_step
from ntm.heads import HeadParams, Heads, projection_sizes, squash
from ntm.memory import InitialState


class NTMState(NamedTuple):
    """Immutable recurrent state.

    memory: [B, N, M]; weights: [B, H, N] (R read heads, then W write heads);
    reads: [B, R, M]; h, c: one [B, C] tensor per controller layer (c empty if feedforward).
    """

    memory: torch.Tensor
    weights: torch.Tensor
    reads: torch.Tensor
    h: tuple[torch.Tensor, ...]
    c: tuple[torch.Tensor, ...]


class CellWeights(NamedTuple):
    """The recurrent step's parameters: the controller's, and the head projection
    proj_w: [K, C], proj_b: [K] (K = sum of ``ntm.heads.projection_sizes``)."""

    controller: ControllerWeights
    proj_w: torch.Tensor
    proj_b: torch.Tensor


class StepSaved(NamedTuple):
    """What one ``cell_step`` computed, by name, for the hand-written backward.

    state: the step's input state; layers: the controller's per-layer activations;
    raw: the head projection [B, K]; heads: its squashed parameters; similarity K [B, H, N]
    (eq. 6), w_c (eq. 5), w_g (eq. 7), w_s (eq. 8), and the sharpened w_t (eq. 9, the next
    state's ``weights``): [B, H, N].
    """

    state: NTMState
    layers: tuple[LayerSaved, ...]
    raw: torch.Tensor
    heads: HeadParams
    similarity: torch.Tensor
    w_c: torch.Tensor
    w_g: torch.Tensor
    w_s: torch.Tensor
    w: torch.Tensor


def cell_step(
    config: NTMConfig, wt: CellWeights, x_proj: torch.Tensor, state: NTMState
) -> tuple[torch.Tensor, NTMState, StepSaved]:
    """One step t. x_proj: [B, G] (the controller's input term) -> (features
    [B, C + R*M] = [out_t, r_t], the next state, the named intermediate values)."""
    b, r_heads = x_proj.shape[0], config.read_heads
    reads_prev = state.reads.reshape(b, -1)  # [B, R*M]
    lstm = config.controller == "lstm"
    h, c, layers = controller_step(
        wt.controller, x_proj, reads_prev, state.h, state.c, lstm=lstm, activation=config.activation
    )
    raw = torch.addmm(wt.proj_b, h[-1], wt.proj_w.t())  # [B, K]
    p = squash(raw, projection_sizes(config), config.memory_m)
    similarity = addressing.cosine_similarity(p.key, state.memory)  # [B, H, N]
    w_c = addressing.focus(similarity, p.beta)
    w_g = addressing.interpolate(w_c, state.weights, p.gate)
    w_s = addressing.shift(w_g, p.shift)
    w = addressing.sharpen(w_s, p.gamma)  # [B, H, N]
    reads = addressing.read(state.memory, w[:, :r_heads])  # [B, R, M]
    memory = addressing.erase_and_write(state.memory, w[:, r_heads:], p.erase, p.add)
    features = torch.cat([h[-1], reads.reshape(b, -1)], dim=-1)  # [B, C + R*M]
    saved = StepSaved(state, layers, raw, p, similarity, w_c, w_g, w_s, w)
    return features, NTMState(memory, w, reads, h, c), saved


class Trace(NamedTuple):
    """What happened inside a sequence, for plots.

    weights: [T, B, H, N] weightings of every head; memory: [T, B, N, M] after each step.
    """

    weights: torch.Tensor
    memory: torch.Tensor


class NTM(nn.Module):
    """A batched Neural Turing Machine.

    >>> model = NTM(NTMConfig(input_size=9, output_size=8))
    >>> y, state = model(torch.zeros(4, 9), model.initial_state(4))
    >>> y.shape
    torch.Size([4, 8])
    """

    def __init__(self, config: NTMConfig) -> None:
        super().__init__()
        self.config = config
        self.controller = Controller(config)
        self.heads = Heads(config)
        self.init = InitialState(config)
        reads = config.read_heads * config.memory_m
        self.out = nn.Linear(config.controller_size + reads, config.output_size)

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> NTMState:
        """State at t = 0 for ``batch`` sequences, on ``device`` (default: the parameters')."""
        dev = torch.device(device) if device is not None else self.out.weight.device
        init = self.init
        h, c = self.controller.initial(batch, dev)
        return NTMState(
            memory=init.memory.to(dev).unsqueeze(0).expand(batch, -1, -1),  # [B, N, M]
            weights=init.weights().to(dev).unsqueeze(0).expand(batch, -1, -1),  # [B, H, N]
            reads=init.reads.to(dev).unsqueeze(0).expand(batch, -1, -1),  # [B, R, M]
            h=h,
            c=c,
        )

    def weights(self) -> CellWeights:
        """The recurrent step's parameters, as ``cell_step`` takes them."""
        proj = self.heads.proj
        return CellWeights(self.controller.weights(), proj.weight, proj.bias)

    def forward(self, x: torch.Tensor, state: NTMState) -> tuple[torch.Tensor, NTMState]:
        """One time step. x: [B, I] -> (logits y: [B, O], next state)."""
        features, state, _ = cell_step(
            self.config, self.weights(), self.controller.project_inputs(x), state
        )
        return self.out(features), state

    def forward_sequence(
        self, inputs: torch.Tensor, state: NTMState | None = None, *, trace: bool = False
    ) -> tuple[torch.Tensor, NTMState, Trace | None]:
        """A whole sequence. inputs: [T, B, I] -> (logits [T, B, O], final state, trace).

        The controller's input projection runs for all T steps at once, and so does the
        output layer; only the recurrent part loops over time.
        """
        batch = inputs.shape[1]
        if state is None:
            state = self.initial_state(batch, inputs.device)
        x_proj = self.controller.project_inputs(inputs)  # [T, B, G]
        cell_weights = self.weights()
        features: list[torch.Tensor] = []
        weights: list[torch.Tensor] = []
        memories: list[torch.Tensor] = []
        # unbind, not x_proj[t]: its backward is one stack, not T full-size zero fills.
        for x_t in x_proj.unbind(0):  # T tensors [B, G]
            f, state, _ = cell_step(self.config, cell_weights, x_t, state)
            features.append(f)
            if trace:
                weights.append(state.weights.detach())
                memories.append(state.memory.detach())
        logits = self.out(torch.stack(features))  # [T, B, O]
        recorded = Trace(torch.stack(weights), torch.stack(memories)) if trace else None
        return logits, state, recorded
