"""One NTM step for the fast engines (``ntm.fast``): forward keeping its activations, and
the hand-derived backward. Pure functions of (spec, weights, inputs): no module state, so
that ``torch.compile`` can turn each into one fused kernel.

``Spec`` is a cell's static shape, ``Weights`` its recurrent parameters, ``State`` the
recurrent state (memory, weights, reads, h per layer, c per layer) and ``Saved`` one
step's activations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch.nn import functional as F

from ntm.addressing import _EPS
from ntm.config import NTMConfig
from ntm.model import NTM

__all__ = ["Saved", "Spec", "State", "Weights", "backward_step", "forward_step"]


@dataclass(frozen=True)
class Spec:
    """The static shape of one NTM cell (hashable: one compiled kernel pair per Spec)."""

    lstm: bool
    layers: int
    size: int  # C
    activation: str
    reads: int  # R
    writes: int  # W
    m: int  # M
    shifts: int  # 2s+1
    sizes: tuple[int, ...]  # the head projection's split, as in ntm.heads

    @staticmethod
    def of(config: NTMConfig) -> Spec:
        h, w, m, s = (
            config.read_heads + config.write_heads,
            config.write_heads,
            config.memory_m,
            config.num_shifts,
        )
        return Spec(
            config.controller == "lstm",
            config.controller_layers,
            config.controller_size,
            config.activation,
            config.read_heads,
            w,
            m,
            s,
            (h * m, h, h, h * s, h, w * m, w * m),
        )


class Weights(NamedTuple):
    """The recurrent part's parameters: head projection, controller (see ntm.controller)."""

    proj_w: torch.Tensor  # [K, C]
    proj_b: torch.Tensor  # [K]
    w_r: torch.Tensor  # [G, R*M]
    bias: torch.Tensor  # [L, G]
    w_in: tuple[torch.Tensor, ...]  # L-1 x [G, C]
    w_h: tuple[torch.Tensor, ...]  # L x [4C, C] (LSTM) or none

    @staticmethod
    def of(model: NTM) -> Weights:
        ctl = model.controller
        return Weights(
            model.heads.proj.weight,
            model.heads.proj.bias,
            ctl.w_r,
            ctl.bias,
            tuple(ctl.w_in),
            tuple(ctl.w_h),
        )

    def flatten(self) -> list[torch.Tensor]:
        return [self.proj_w, self.proj_b, self.w_r, self.bias, *self.w_in, *self.w_h]

    @staticmethod
    def unflatten(spec: Spec, flat: tuple[torch.Tensor, ...]) -> Weights:
        n_in = spec.layers - 1
        proj_w, proj_b, w_r, bias = flat[:4]
        return Weights(proj_w, proj_b, w_r, bias, flat[4 : 4 + n_in], flat[4 + n_in :])


State = tuple[
    torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]
]


_ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


class Saved(NamedTuple):
    """One step's activations for the backward (shapes as in ntm.addressing / ntm.heads)."""

    state: State  # the step's input state
    acts: tuple[torch.Tensor, ...]  # per layer: LSTM (sigmoid gates, tanh g, tanh c'), else (h',)
    hs: tuple[torch.Tensor, ...]  # h' per layer, [B, C]
    heads: tuple[
        torch.Tensor, ...
    ]  # key, beta, gate, shift, gamma, erase, add, beta_raw, gamma_raw
    address: tuple[torch.Tensor, ...]  # kn, mn, K, wc, wg, windows, ws, wp, total, w, kprod


def _windows(w: torch.Tensor, s: int) -> torch.Tensor:
    """w: [B, H, N] -> [B, H, N, 2s+1], window j of location i holds w(i - s + j) (circular)."""
    n = w.shape[-1]
    return torch.cat([w[..., n - s :], w, w[..., :s]], dim=-1).unfold(-1, 2 * s + 1, 1)


def _controller(spec: Spec, wt: Weights, x_t: torch.Tensor, state: State) -> tuple[Any, ...]:
    _, _, r_prev, h, c = state
    pre = torch.addmm(x_t, r_prev, wt.w_r.t())  # [B, G]
    hs: list[torch.Tensor] = []
    cs: list[torch.Tensor] = []
    acts: list[tuple[torch.Tensor, ...]] = []
    size = spec.size
    for layer in range(spec.layers):
        if layer > 0:
            pre = torch.addmm(wt.bias[layer], hs[-1], wt.w_in[layer - 1].t())
        if spec.lstm:
            gates = torch.addmm(pre, h[layer], wt.w_h[layer].t())  # [B, 4C]
            sig = torch.sigmoid(gates)  # the g quarter is unused
            g = torch.tanh(gates[:, 2 * size : 3 * size])
            cell = sig[:, size : 2 * size] * c[layer] + sig[:, :size] * g
            tc = torch.tanh(cell)
            hs.append(sig[:, 3 * size :] * tc)
            cs.append(cell)
            acts.append((sig, g, tc))
        else:
            hs.append(_ACT[spec.activation](pre))
            acts.append((hs[-1],))
    return tuple(hs), tuple(cs), tuple(a for act in acts for a in act)


def forward_step(
    spec: Spec, wt: Weights, x_t: torch.Tensor, state: State
) -> tuple[torch.Tensor, State, Saved]:
    """x_t: [B, G] (projected input) -> (features [B, C + R*M], next state, activations)."""
    mem, w_prev = state[0], state[1]
    b, hh = x_t.shape[0], spec.reads + spec.writes
    hs, cs, acts = _controller(spec, wt, x_t, state)
    out = hs[-1]
    raw = torch.addmm(wt.proj_b, out, wt.proj_w.t()).split(spec.sizes, dim=-1)
    key = raw[0].reshape(b, hh, spec.m)  # [B, H, M]
    beta, gate = F.softplus(raw[1]), torch.sigmoid(raw[2])  # [B, H]
    shift = torch.softmax(raw[3].reshape(b, hh, spec.shifts), dim=-1)  # [B, H, 2s+1]
    gamma = 1.0 + F.softplus(raw[4])
    erase = torch.sigmoid(raw[5]).reshape(b, spec.writes, spec.m)  # [B, W, M]
    add = raw[6].reshape(b, spec.writes, spec.m)  # [B, W, M]
    kn = torch.sqrt(key.pow(2).sum(-1) + _EPS)  # [B, H]
    mn = torch.sqrt(mem.pow(2).sum(-1) + _EPS)  # [B, N]
    cos = torch.matmul(key, mem.transpose(1, 2)) / (kn.unsqueeze(-1) * mn.unsqueeze(1))  # [B, H, N]
    wc = torch.softmax(beta.unsqueeze(-1) * cos, dim=-1)
    g = gate.unsqueeze(-1)  # [B, H, 1]
    wg = g * wc + (1.0 - g) * w_prev
    win = _windows(wg, spec.shifts // 2)  # [B, H, N, 2s+1]
    ws = torch.matmul(win, shift.flip(-1).unsqueeze(-1)).squeeze(-1)  # [B, H, N]
    wp = (ws + _EPS).pow(gamma.unsqueeze(-1))
    total = wp.sum(-1, keepdim=True)  # [B, H, 1]
    w = wp / total
    reads = torch.matmul(w[:, : spec.reads], mem)  # [B, R, M]
    ww = w[:, spec.reads :]  # [B, W, N]
    if spec.writes == 1:  # one writer: the erase product is one outer product
        kprod = 1.0 - torch.matmul(ww.transpose(1, 2), erase)  # [B, N, 1] @ [B, 1, M]
    else:
        kprod = (1.0 - ww.unsqueeze(-1) * erase.unsqueeze(-2)).prod(dim=1)  # [B, N, M]
    new_mem = mem * kprod + torch.matmul(ww.transpose(1, 2), add)
    r_flat = reads.reshape(b, -1)  # [B, R*M]
    saved = Saved(
        state,
        acts,
        hs,
        (key, beta, gate, shift, gamma, erase, add, raw[1], raw[4]),
        (kn, mn, cos, wc, wg, win, ws, wp, total, w, kprod),
    )
    return torch.cat([out, r_flat], dim=-1), (new_mem, w, r_flat, hs, cs), saved


def _slope(activation: str, y: torch.Tensor) -> torch.Tensor:
    """The activation's derivative from its output y."""
    if activation == "relu":
        return (y > 0).to(y.dtype)
    return 1.0 - y * y if activation == "tanh" else y * (1.0 - y)


def _erase_others(keep: torch.Tensor) -> torch.Tensor:
    """keep: [B, W, N, M] -> for each head the product of the other heads' keep (no division)."""
    ones = torch.ones_like(keep[:, :1])
    before = torch.cumprod(torch.cat([ones, keep[:, :-1]], dim=1), dim=1)
    after = torch.cumprod(torch.cat([ones, keep.flip(1)[:, :-1]], dim=1), dim=1).flip(1)
    return before * after


def _address_backward(spec: Spec, sv: Saved, d_w: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """d_w: [B, H, N] -> (d_mem [B, N, M], d_w_prev, d_key, d_beta, d_gate, d_shift, d_gamma)."""
    mem, w_prev = sv.state[0], sv.state[1]
    key, beta, gate, shift, gamma = sv.heads[:5]
    kn, mn, cos, wc, wg, win, ws, wp, total, w = sv.address[:10]
    d_wp = (d_w - (d_w * w).sum(-1, keepdim=True)) / total  # sharpen
    base = ws + _EPS
    d_ws = d_wp * gamma.unsqueeze(-1) * wp / base
    d_gamma = (d_wp * wp * torch.log(base)).sum(-1)
    d_wg = torch.matmul(_windows(d_ws, spec.shifts // 2), shift.unsqueeze(-1)).squeeze(-1)
    d_shift = (win * d_ws.unsqueeze(-1)).sum(2).flip(-1)  # [B, H, 2s+1]
    g = gate.unsqueeze(-1)  # interpolate
    d_wc = g * d_wg
    d_gate = (d_wg * (wc - w_prev)).sum(-1)
    d_z = wc * (d_wc - (d_wc * wc).sum(-1, keepdim=True))  # content softmax
    d_beta = (d_z * cos).sum(-1)
    d_cos = d_z * beta.unsqueeze(-1)
    d_dot = d_cos / (kn.unsqueeze(-1) * mn.unsqueeze(1))  # [B, H, N]
    d_cc = d_cos * cos
    d_key = torch.matmul(d_dot, mem) - (d_cc.sum(-1) / kn.pow(2)).unsqueeze(-1) * key
    d_mem = torch.matmul(d_dot.transpose(1, 2), key) - (d_cc.sum(1) / mn.pow(2)).unsqueeze(-1) * mem
    return d_mem, (1.0 - g) * d_wg, d_key, d_beta, d_gate, d_shift, d_gamma


def _write_backward(spec: Spec, sv: Saved, d_mem_next: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """d_mem_next: [B, N, M] -> (d_ww [B, W, N], d_erase [B, W, M], d_add [B, W, M])."""
    mem, erase, add = sv.state[0], sv.heads[5], sv.heads[6]
    ww = sv.address[9][:, spec.reads :]  # [B, W, N]
    d_kprod = d_mem_next * mem  # write: [B, N, M]
    if spec.writes == 1:
        d_ww_erase = torch.matmul(erase, d_kprod.transpose(1, 2))  # [B, 1, N]
        d_erase = -torch.matmul(ww, d_kprod)  # [B, 1, M]
    else:
        keep = 1.0 - ww.unsqueeze(-1) * erase.unsqueeze(-2)  # [B, W, N, M]
        d_keep = d_kprod.unsqueeze(1) * _erase_others(keep)
        d_ww_erase = (d_keep * erase.unsqueeze(-2)).sum(-1)
        d_erase = -(d_keep * ww.unsqueeze(-1)).sum(2)  # [B, W, M]
    d_ww = torch.matmul(add, d_mem_next.transpose(1, 2)) - d_ww_erase  # [B, W, N]
    d_add = torch.matmul(ww, d_mem_next)  # [B, W, M]
    return d_ww, d_erase, d_add


def _controller_backward(
    spec: Spec, wt: Weights, sv: Saved, d_h: list[torch.Tensor], d_next: tuple[Any, Any]
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[tuple[torch.Tensor, ...]]]:
    """The controller's layers, top down. d_h: d(h') per layer [B, C] (updated in place, a
    local list); d_next: (d h, d c) of the next state -> (d h, d c of the state, terms)."""
    d_h_next, d_c_next = d_next
    c, (_, _, _, h_prev, c_prev) = spec.size, sv.state
    new_dh, new_dc = list(d_h_next), list(d_c_next)
    terms: list[tuple[torch.Tensor, ...]] = []
    for layer in range(spec.layers - 1, -1, -1):
        if spec.lstm:
            sig, g_t, tc = sv.acts[3 * layer : 3 * layer + 3]
            i, f, o = sig[:, :c], sig[:, c : 2 * c], sig[:, 3 * c :]
            d_cell = d_c_next[layer] + d_h[layer] * o * (1.0 - tc * tc)
            d_pre = torch.cat(
                [
                    d_cell * g_t * i * (1.0 - i),
                    d_cell * c_prev[layer] * f * (1.0 - f),
                    d_cell * i * (1.0 - g_t * g_t),
                    d_h[layer] * tc * o * (1.0 - o),
                ],
                -1,
            )
            new_dc[layer] = d_cell * f
            new_dh[layer] = torch.matmul(d_pre, wt.w_h[layer])
        else:
            y = sv.acts[layer]
            d_pre = d_h[layer] * _slope(spec.activation, y)
        if layer > 0:
            d_h[layer - 1] = d_h[layer - 1] + torch.matmul(d_pre, wt.w_in[layer - 1])
        below = sv.hs[layer - 1] if layer > 0 else d_pre
        terms.append((d_pre, below, h_prev[layer] if spec.lstm else d_pre))
    return new_dh, new_dc, terms


def backward_step(
    spec: Spec, wt: Weights, sv: Saved, d_feat: torch.Tensor, carry: State
) -> tuple[State, tuple[torch.Tensor, ...]]:
    """Gradients of one step. d_feat: [B, C + R*M]; carry: d(next state) -> (d(state), terms).

    terms = (d_x [B, G], d_head_raw [B, K], out, r_prev, then per layer (d_pre, input, h_prev))
    for the weight gradients that ``_weight_grads`` takes over all steps at once.
    """
    mem, _, r_prev, _, _ = sv.state
    d_mem_next, d_w_next, d_r_next, d_h_next, d_c_next = carry
    b, c, rr = d_feat.shape[0], spec.size, spec.reads
    key, beta, gate, shift, gamma, erase, add, beta_raw, gamma_raw = sv.heads
    w, kprod = sv.address[9], sv.address[10]
    d_ww, d_erase, d_add = _write_backward(spec, sv, d_mem_next)
    d_r = (d_feat[:, c:] + d_r_next).reshape(b, rr, spec.m)  # read: [B, R, M]
    d_w = torch.cat([torch.matmul(d_r, mem.transpose(1, 2)), d_ww], dim=1) + d_w_next
    d_mem_a, d_w_prev, d_key, d_beta, d_gate, d_shift, d_gamma = _address_backward(spec, sv, d_w)
    d_mem = d_mem_next * kprod + torch.matmul(w[:, :rr].transpose(1, 2), d_r) + d_mem_a
    d_shift_raw = shift * (d_shift - (d_shift * shift).sum(-1, keepdim=True))
    d_head_raw = torch.cat(
        [
            d_key.reshape(b, -1),
            d_beta * torch.sigmoid(beta_raw),
            d_gate * gate * (1.0 - gate),
            d_shift_raw.reshape(b, -1),
            d_gamma * torch.sigmoid(gamma_raw),
            (d_erase * erase * (1.0 - erase)).reshape(b, -1),
            d_add.reshape(b, -1),
        ],
        dim=-1,
    )  # [B, K]
    d_h = list(d_h_next)
    d_h[-1] = d_h[-1] + d_feat[:, :c] + torch.matmul(d_head_raw, wt.proj_w)
    new_dh, new_dc, terms = _controller_backward(spec, wt, sv, d_h, (d_h_next, d_c_next))
    d_x = terms[-1][0]
    carry_out = (d_mem, d_w_prev, torch.matmul(d_x, wt.w_r), tuple(new_dh), tuple(new_dc))
    flat = tuple(t for layer_terms in reversed(terms) for t in layer_terms)
    return carry_out, (d_x, d_head_raw, sv.hs[-1], r_prev, *flat)
