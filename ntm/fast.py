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
from typing import Any

import torch

from ntm.fast_step import Saved, Spec, State, Weights, backward_step, forward_step
from ntm.model import NTM

__all__ = [
    "ENGINES",
    "Saved",
    "Spec",
    "State",
    "Weights",
    "backward_step",
    "check_engine",
    "forward_step",
    "resolve_engine",
    "sequence_logits",
]

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
