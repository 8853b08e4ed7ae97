"""Backpropagation through time by hand: the whole recurrence as one autograd Function.

The forward runs ``ntm.model.cell_step`` for every step without autograd and keeps each
step's ``StepSaved``. The backward walks the steps in reverse through ``cell_backward``
(the stages of ``ntm.engines.stages`` in reverse order of the forward) and computes every
weight gradient at the end in one matrix product over all T*B rows. ``StepFns`` says which
(forward, backward) step functions run: plain, or compiled by ``ntm.engines.compiled``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from ntm.config import NTMConfig
from ntm.controller import ControllerWeights
from ntm.engines import stages
from ntm.heads import HeadParams, projection_sizes
from ntm.model import NTM, CellWeights, NTMState, StepSaved, cell_step

Tensor = torch.Tensor


class StepGrads(NamedTuple):
    """One step's gradient factors for the weight gradients: d_raw, the head projection's
    output [B, K]; d_pre, every controller layer's pre-activation [B, G] (d_pre[0] is also
    d x_proj)."""

    d_raw: Tensor
    d_pre: tuple[Tensor, ...]


def cell_backward(
    config: NTMConfig, wt: CellWeights, sv: StepSaved, d_feat: Tensor, carry: NTMState
) -> tuple[NTMState, StepGrads]:
    """The gradient of one ``cell_step``, its stages in reverse: write, read, sharpen, shift,
    interpolate, focus, cosine, squash, controller.

    d_feat: [B, C + R*M]; carry: the gradient of the next state (same shapes as NTMState,
    h zeros for feedforward) -> (the gradient of this step's input state, StepGrads).
    """
    mem, r_heads, c = sv.state.memory, config.read_heads, config.controller_size
    p = sv.heads
    b = d_feat.shape[0]
    d_r = d_feat[:, c:].reshape(b, r_heads, -1) + carry.reads  # [B, R, M]
    d_mem_w, d_ww, d_erase, d_add = stages.erase_and_write_backward(
        mem, sv.w[:, r_heads:], p.erase, p.add, carry.memory
    )
    d_mem_r, d_wr = stages.read_backward(mem, sv.w[:, :r_heads], d_r)
    d_w = torch.cat([d_wr, d_ww], dim=1) + carry.weights  # [B, H, N]
    d_ws, d_gamma = stages.sharpen_backward(sv.w_s, p.gamma, sv.w, d_w)
    d_wg, d_shift = stages.shift_backward(sv.w_g, p.shift, d_ws)
    d_wc, d_w_prev, d_gate = stages.interpolate_backward(sv.w_c, sv.state.weights, p.gate, d_wg)
    d_sim, d_beta = stages.focus_backward(sv.similarity, p.beta, sv.w_c, d_wc)
    d_key, d_mem_c = stages.cosine_similarity_backward(p.key, mem, sv.similarity, d_sim)
    d_heads = HeadParams(d_key, d_beta, d_gate, d_shift, d_gamma, d_erase, d_add)
    d_raw = stages.squash_backward(sv.raw, projection_sizes(config), p, d_heads)  # [B, K]
    d_h = list(carry.h)
    d_h[-1] = d_h[-1] + d_feat[:, :c] + torch.matmul(d_raw, wt.proj_w)
    d_pre, d_h_prev, d_c_prev, d_reads = stages.controller_step_backward(
        wt.controller, sv.layers, sv.state.c, tuple(d_h), carry.c, activation=config.activation
    )
    d_state = NTMState(
        memory=d_mem_w + d_mem_r + d_mem_c,
        weights=d_w_prev,
        reads=d_reads.view(b, r_heads, -1),  # [B, R, M]
        h=d_h_prev if d_h_prev else carry.h,  # feedforward: h_{t-1} is unused, stays 0
        c=d_c_prev,
    )
    return d_state, StepGrads(d_raw, tuple(d_pre))


def _rows(xs: list[Tensor]) -> Tensor:
    """T tensors [B, K] -> [T*B, K]."""
    return torch.cat(xs, dim=0)


def weight_grads(
    saves: list[StepSaved], grads: list[StepGrads], lstm: bool
) -> tuple[Tensor, Tensor, ControllerWeights]:
    """(d proj_w, d proj_b, d controller weights), each one product over all T*B rows.

    d proj_w = sum d_raw^T h_top; d w_r = sum d_pre0^T r_{t-1}; d w_in[l-1] = sum
    d_pre_l^T h_{l-1}; d w_h[l] = sum d_pre_l^T h_{t-1, l}; d bias[l > 0] = sum d_pre_l
    (bias[0] enters through x_proj, whose gradient autograd takes from d_pre0).
    """
    d_raw = _rows([g.d_raw for g in grads])  # [T*B, K]
    layers = len(grads[0].d_pre)
    d_pre = [_rows([g.d_pre[layer] for g in grads]) for layer in range(layers)]  # [T*B, G]
    below = [_rows([s.layers[layer].below for s in saves]) for layer in range(layers)]
    top = _rows([s.layers[-1].h for s in saves])  # [T*B, C]
    d_bias = torch.stack([torch.zeros_like(d_pre[0][0]), *(d.sum(0) for d in d_pre[1:])])
    h_prev = [_rows([s.state.h[layer] for s in saves]) for layer in range(layers if lstm else 0)]
    controller = ControllerWeights(
        w_r=d_pre[0].t() @ below[0],
        bias=d_bias,  # [L, G]
        w_in=tuple(d_pre[layer].t() @ below[layer] for layer in range(1, layers)),
        w_h=tuple(d.t() @ h for d, h in zip(d_pre, h_prev, strict=False)),
    )
    return d_raw.t() @ top, d_raw.sum(0), controller


StepFn = Callable[..., Any]


class StepFns(NamedTuple):
    """The per-step functions an engine runs: ``cell_step`` and ``cell_backward`` or their
    compiled versions (same signatures)."""

    forward: StepFn
    backward: StepFn


PLAIN = StepFns(cell_step, cell_backward)


def _flatten(wt: CellWeights) -> list[Tensor]:
    ctl = wt.controller
    return [wt.proj_w, wt.proj_b, ctl.w_r, ctl.bias, *ctl.w_in, *ctl.w_h]


def _unflatten(config: NTMConfig, flat: tuple[Tensor, ...]) -> CellWeights:
    """The inverse of ``_flatten``."""
    proj_w, proj_b, w_r, bias = flat[:4]
    n_in = config.controller_layers - 1
    controller = ControllerWeights(w_r, bias, flat[4 : 4 + n_in], flat[4 + n_in :])
    return CellWeights(controller, proj_w, proj_b)


def _zero_state(config: NTMConfig, like: NTMState | None, batch: int, ref: Tensor) -> NTMState:
    """A state of zeros (h, c zeros per layer; c empty for feedforward) shaped like ``like``."""
    size, layers = config.controller_size, config.controller_layers
    h = tuple(ref.new_zeros(batch, size) for _ in range(layers))
    # c gets tensors of its own: aliased h and c would give the first step its own graph.
    c = tuple(torch.zeros_like(t) for t in h) if config.controller == "lstm" else ()
    if like is None:
        return NTMState(ref, ref, ref, h, c)
    return NTMState(
        torch.zeros_like(like.memory),
        torch.zeros_like(like.weights),
        torch.zeros_like(like.reads),
        h,
        c,
    )


class _Recurrence(torch.autograd.Function):
    """features [T, B, C + R*M] = the NTM recurrence over x_proj [T, B, G] from (M_0, w_0,
    r_0) and zero controller state; flat: the ``CellWeights`` as ``_flatten`` orders them."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        config: NTMConfig,
        fns: StepFns,
        x_proj: Tensor,
        mem0: Tensor,
        w0: Tensor,
        r0: Tensor,
        *flat: Tensor,
    ) -> Tensor:
        wt = _unflatten(config, flat)
        zeros = _zero_state(config, None, x_proj.shape[1], x_proj)
        # Detached copies: at B=1 .contiguous() alone would return the parameter's view, whose
        # requires_grad would give the first step a graph of its own in ``compiled``.
        mem, w, r = (t.detach().contiguous() for t in (mem0, w0, r0))
        state = NTMState(mem, w, r, zeros.h, zeros.c)
        feats, saves = [], []
        for x_t in x_proj.unbind(0):  # T tensors [B, G]
            feat, state, saved = fns.forward(config, wt, x_t, state)
            feats.append(feat)
            saves.append(saved)
        ctx.config, ctx.fns, ctx.wt, ctx.saves = config, fns, wt, saves
        return torch.stack(feats)  # [T, B, F]

    @staticmethod
    def backward(ctx: Any, d_feats: Tensor) -> tuple[Tensor | None, ...]:
        config: NTMConfig = ctx.config
        saves: list[StepSaved] = ctx.saves
        carry = _zero_state(config, saves[0].state, d_feats.shape[1], d_feats)
        grads: list[StepGrads] = []
        for t in range(d_feats.shape[0] - 1, -1, -1):
            carry, step_grads = ctx.fns.backward(config, ctx.wt, saves[t], d_feats[t], carry)
            grads.append(step_grads)
        grads.reverse()
        d_proj_w, d_proj_b, d_ctl = weight_grads(saves, grads, config.controller == "lstm")
        ctx.saves = None  # free the activations
        d_x = torch.stack([g.d_pre[0] for g in grads])  # [T, B, G]
        flat = _flatten(CellWeights(d_ctl, d_proj_w, d_proj_b))
        return (None, None, d_x, carry.memory, carry.weights, carry.reads, *flat)


def recurrence(model: NTM, x_proj: Tensor, fns: StepFns) -> Tensor:
    """x_proj: [T, B, G] -> features [T, B, C + R*M], as ``model.forward_sequence`` computes
    them, with gradients to every recurrent parameter and to x_proj."""
    state = model.initial_state(x_proj.shape[1], x_proj.device)
    flat = _flatten(model.weights())
    out = _Recurrence.apply(
        model.config, fns, x_proj, state.memory, state.weights, state.reads, *flat
    )
    return out  # type: ignore[no-any-return]
