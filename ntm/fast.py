"""A fast training path: the NTM's recurrence with a hand-written backward through time.

``sequence_logits(model, inputs, engine)``: inputs [T, B, I] -> logits [T, B, O], with the same
values and gradients as ``NTM.forward_sequence`` (the recurrence is swapped, the controller's
input projection and the output layer stay in autograd). Engines:

- ``eager``: ``NTM.forward_sequence``'s loop under autograd (always available, vmap-able).
- ``manual``: one ``torch.autograd.Function`` for the whole recurrence. The forward runs
  without autograd and keeps each step's activations; the backward walks the steps in reverse
  with fused, hand-derived formulas (``backward_step``), and computes every weight gradient
  in one matrix product over all T*B rows at the end. No autograd graph per op.
- ``compiled``: ``manual`` with each step's forward and backward ``torch.compile``d (fullgraph,
  dynamic=False): two fused C++ kernels per step. Costs a compile per process (cached on disk).
- ``auto``: ``manual`` on CPU (no compile cost, no recompiles when shapes change); ``eager``
  elsewhere.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch.nn import functional as F

from ntm.addressing import _EPS
from ntm.config import NTMConfig
from ntm.model import NTM

ENGINES = ("auto", "eager", "manual", "compiled")


def check_engine(engine: str) -> None:
    """Raise ``ValueError`` unless ``engine`` is one of ``ENGINES``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, but got engine={engine!r}.")


def resolve_engine(engine: str, device: torch.device | str) -> str:
    """The concrete engine ``engine`` means on ``device`` (``auto`` -> ``manual`` on CPU)."""
    check_engine(engine)
    if engine == "auto":
        return "manual" if torch.device(device).type == "cpu" else "eager"
    return engine


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
StepFn = Callable[..., Any]


_COMPILED: dict[Spec, tuple[StepFn, StepFn]] = {}
_BROKEN: set[Spec] = set()  # specs whose compile failed: they run the manual steps


def _step_fns(spec: Spec, compiled: bool) -> tuple[StepFn, StepFn]:
    """(forward, backward) step functions for ``spec``, compiled once per process if asked."""
    if not compiled:
        return forward_step, backward_step
    if spec not in _COMPILED:
        opts: dict[str, Any] = {"fullgraph": True, "dynamic": False}
        fns = (torch.compile(forward_step, **opts), torch.compile(backward_step, **opts))
        _COMPILED[spec] = (_or_manual(spec, fns[0], 0), _or_manual(spec, fns[1], 1))
    return _COMPILED[spec]


def _or_manual(spec: Spec, fn: StepFn, which: int) -> StepFn:
    """``fn``, but if compiling fails (no C++ compiler, recompile limit...) warn once and run
    the uncompiled step from then on; the steps are pure, so a failed call can be rerun."""

    manual = (forward_step, backward_step)[which]

    def call(*args: Any) -> Any:
        if spec in _BROKEN:
            return manual(*args)
        try:
            return fn(*args)
        except Exception as err:  # any compiler failure: fall back, loudly
            warnings.warn(f"engine='compiled' fell back to 'manual': {err!r:.300}", stacklevel=2)
            _BROKEN.add(spec)
            return manual(*args)

    return call


def _zeros(like: torch.Tensor, spec: Spec, present: bool) -> tuple[torch.Tensor, ...]:
    """One fresh [B, C] zero tensor per layer (none if not ``present``); like: [T, B, *]."""
    return tuple(
        like.new_zeros(like.shape[1], spec.size) for _ in range(spec.layers if present else 0)
    )


class _Recurrence(torch.autograd.Function):
    """features [T, B, F] = the NTM recurrence over x_proj [T, B, G] from the initial state."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        spec: Spec,
        compiled: bool,
        x_proj: torch.Tensor,
        mem0: torch.Tensor,
        w0: torch.Tensor,
        r0: torch.Tensor,
        *flat: torch.Tensor,
    ) -> torch.Tensor:
        weights = Weights.unflatten(spec, flat)
        fwd, _ = _step_fns(spec, compiled)
        batch = x_proj.shape[1]
        state = (
            mem0.contiguous(),
            w0.contiguous(),
            r0.reshape(batch, -1).contiguous(),  # r: [B, R*M]
            _zeros(x_proj, spec, True),
            _zeros(x_proj, spec, spec.lstm),
        )
        feats, saves = [], []
        for x_t in x_proj.unbind(0):  # T tensors [B, G]
            feat, state, saved = fwd(spec, weights, x_t, state)
            feats.append(feat)
            saves.append(saved)
        ctx.spec, ctx.compiled, ctx.weights, ctx.saves = spec, compiled, weights, saves
        ctx.shapes = (mem0.shape, w0.shape, r0.shape)
        return torch.stack(feats)  # [T, B, F]

    @staticmethod
    def backward(ctx: Any, d_feats: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        spec: Spec = ctx.spec
        weights: Weights = ctx.weights
        _, bwd = _step_fns(spec, ctx.compiled)
        mem_shape, w_shape, r_shape = ctx.shapes
        carry = (
            d_feats.new_zeros(mem_shape),
            d_feats.new_zeros(w_shape),
            d_feats.new_zeros(r_shape[0], r_shape[1] * r_shape[2]),  # [B, R*M]
            _zeros(d_feats, spec, True),
            _zeros(d_feats, spec, spec.lstm),
        )
        per_step: list[tuple[torch.Tensor, ...]] = []
        for t in range(d_feats.shape[0] - 1, -1, -1):
            carry, d_pre = bwd(spec, weights, ctx.saves[t], d_feats[t].contiguous(), carry)
            per_step.append(d_pre)
        ctx.saves = None  # free the activations as soon as they are used
        d_pre_all = [torch.stack(k[::-1]) for k in zip(*per_step)]  # each [T, B, *]
        grads = _weight_grads(spec, d_pre_all)
        d_mem0, d_w0, d_r0 = carry[0], carry[1], carry[2].view(r_shape)  # [B, R, M]
        return (None, None, d_pre_all[0], d_mem0, d_w0, d_r0, *grads)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """[T, B, K] -> [T*B, K]."""
    return x.reshape(-1, x.shape[-1])


def _weight_grads(spec: Spec, d_pre: list[torch.Tensor]) -> list[torch.Tensor]:
    """Every weight gradient as one [T*B]-row product; order matches ``Weights.flatten``.

    d_pre = [d_x_proj, d_heads, inputs..., then per layer (d_pre_l, layer input h, recurrent h)]
    as stacked [T, B, *] tensors saved by ``backward_step``.
    """
    d_x, d_heads, out, reads = d_pre[0], d_pre[1], d_pre[2], d_pre[3]
    layer_terms = d_pre[4:]
    d_proj_w = _rows(d_heads).t() @ _rows(out)  # [K, C]
    d_proj_b = _rows(d_heads).sum(0)  # [K]
    d_w_r = _rows(d_x).t() @ _rows(reads)  # [G, R*M]
    d_bias = torch.zeros(spec.layers, d_x.shape[-1], dtype=d_x.dtype, device=d_x.device)
    d_w_in: list[torch.Tensor] = []
    d_w_h: list[torch.Tensor] = []
    for layer in range(spec.layers):
        d_l, below, prev_h = layer_terms[3 * layer : 3 * layer + 3]
        if layer > 0:
            d_bias[layer] = _rows(d_l).sum(0)
            d_w_in.append(_rows(d_l).t() @ _rows(below))  # [G, C]
        if spec.lstm:
            d_w_h.append(_rows(d_l).t() @ _rows(prev_h))  # [4C, C]
    return [d_proj_w, d_proj_b, d_w_r, d_bias, *d_w_in, *d_w_h]


def sequence_logits(model: NTM, inputs: torch.Tensor, engine: str = "auto") -> torch.Tensor:
    """inputs: [T, B, I] -> logits [T, B, O], equal to ``model.forward_sequence(inputs)[0]``.

    The values and gradients (to every parameter) match the eager cell's to float rounding.
    """
    kind = resolve_engine(engine, inputs.device)
    if kind == "eager":
        return model.forward_sequence(inputs)[0]
    state = model.initial_state(inputs.shape[1], inputs.device)
    x_proj = model.controller.project_inputs(inputs)  # [T, B, G]
    flat = Weights.of(model).flatten()
    features = _Recurrence.apply(
        Spec.of(model.config),
        kind == "compiled",
        x_proj,
        state.memory,
        state.weights,
        state.reads,
        *flat,
    )  # [T, B, C + R*M]
    return model.out(features)  # type: ignore[no-any-return]


# -- one step: forward keeping activations, and its hand-derived backward ---------------------
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


def backward_step(
    spec: Spec, wt: Weights, sv: Saved, d_feat: torch.Tensor, carry: State
) -> tuple[State, tuple[torch.Tensor, ...]]:
    """Gradients of one step. d_feat: [B, C + R*M]; carry: d(next state) -> (d(state), terms).

    terms = (d_x [B, G], d_head_raw [B, K], out, r_prev, then per layer (d_pre, input, h_prev))
    for the weight gradients that ``_weight_grads`` takes over all steps at once.
    """
    mem, _, r_prev, h_prev, c_prev = sv.state
    d_mem_next, d_w_next, d_r_next, d_h_next, d_c_next = carry
    b, c, rr = d_feat.shape[0], spec.size, spec.reads
    key, beta, gate, shift, gamma, erase, add, beta_raw, gamma_raw = sv.heads
    w, kprod = sv.address[9], sv.address[10]
    ww = w[:, rr:]  # [B, W, N]
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
    d_x = terms[-1][0]
    carry_out = (d_mem, d_w_prev, torch.matmul(d_x, wt.w_r), tuple(new_dh), tuple(new_dc))
    flat = tuple(t for layer_terms in reversed(terms) for t in layer_terms)
    return carry_out, (d_x, d_head_raw, sv.hs[-1], r_prev, *flat)
