"""Each hand-written backward stage against autograd through its forward twin, in float64.

For every stage: (1) the manual gradients equal autograd's to 1e-12 for a random upstream
gradient, and (2) ``gradcheck`` (finite differences) passes on a Function whose backward is
the manual one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from ntm import addressing as A
from ntm.config import NTMConfig
from ntm.controller import Controller, controller_step
from ntm.engines import stages
from ntm.heads import HeadParams, projection_sizes, squash

Tensors = tuple[torch.Tensor, ...]
Backward = Callable[[Sequence[torch.Tensor], Tensors, Tensors], Sequence[torch.Tensor]]


def _outputs(out: Any) -> Tensors:
    return tuple(out) if isinstance(out, tuple) else (out,)


class _Manual(torch.autograd.Function):
    """forward(*inputs) with ``backward`` as its gradient, for gradcheck."""

    @staticmethod
    def forward(ctx: Any, fwd: Callable[..., Any], bwd: Backward, *inputs: torch.Tensor) -> Any:  # type: ignore[override]
        out = _outputs(fwd(*inputs))
        ctx.save_for_backward(*inputs, *out)
        ctx.bwd, ctx.n = bwd, len(inputs)
        return out

    @staticmethod
    def backward(ctx: Any, *d_out: torch.Tensor) -> tuple[Any, ...]:
        saved = ctx.saved_tensors
        return (None, None, *ctx.bwd(saved[: ctx.n], saved[ctx.n :], d_out))


def _check(fwd: Callable[..., Any], bwd: Backward, inputs: list[torch.Tensor]) -> None:
    inputs = [x.detach().double().requires_grad_() for x in inputs]
    out = _outputs(fwd(*inputs))
    gen = torch.Generator().manual_seed(7)
    d_out = tuple(torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in out)
    expected = torch.autograd.grad(out, inputs, d_out, allow_unused=True)
    got = bwd([x.detach() for x in inputs], tuple(o.detach() for o in out), d_out)
    # Rule: the manual stage's gradients are autograd's through the forward twin.
    assert len(got) == len(inputs)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        e = torch.zeros_like(inputs[i]) if e is None else e
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12, msg=f"input {i}")
    # Rule: and they pass finite differences.
    assert torch.autograd.gradcheck(lambda *x: _Manual.apply(fwd, bwd, *x), tuple(inputs))


B, H, N, M = 2, 3, 7, 4


def _rand(*shape: int, simplex: bool = False, positive: bool = False) -> torch.Tensor:
    x = torch.rand(*shape, dtype=torch.float64)
    if simplex:
        return x / x.sum(-1, keepdim=True)
    return x + 0.5 if positive else 2 * x - 1


def test_cosine_similarity() -> None:
    torch.manual_seed(0)
    _check(
        A.cosine_similarity,
        lambda x, y, d: stages.cosine_similarity_backward(x[0], x[1], y[0], d[0]),
        [_rand(B, H, M), _rand(B, N, M)],
    )


def test_cosine_similarity_zero_row_and_key() -> None:
    # Where the floor of |k||M(i)| is active (a zero row or key), the gradient is the
    # constant-denominator one, as autograd's; finite differences do not apply at 0.
    torch.manual_seed(0)
    key, memory = _rand(B, H, M).requires_grad_(), _rand(B, N, M)
    memory[:, 2] = 0.0
    key.data[0, 1] = 0.0
    memory.requires_grad_()
    sim = A.cosine_similarity(key, memory)
    d_sim = torch.randn_like(sim)
    expected = torch.autograd.grad(sim, (key, memory), d_sim)
    got = stages.cosine_similarity_backward(key.detach(), memory.detach(), sim.detach(), d_sim)
    for g, e in zip(got, expected, strict=True):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-12)


def test_focus() -> None:
    torch.manual_seed(1)
    _check(
        A.focus,
        lambda x, y, d: stages.focus_backward(x[0], x[1], y[0], d[0]),
        [_rand(B, H, N), _rand(B, H, positive=True) * 5],
    )


def test_interpolate() -> None:
    torch.manual_seed(2)
    _check(
        A.interpolate,
        lambda x, y, d: stages.interpolate_backward(x[0], x[1], x[2], d[0]),
        [_rand(B, H, N, simplex=True), _rand(B, H, N, simplex=True), torch.rand(B, H)],
    )


@pytest.mark.parametrize("s", [0, 1, 2])
def test_shift(s: int) -> None:
    torch.manual_seed(3)
    _check(
        A.shift,
        lambda x, y, d: stages.shift_backward(x[0], x[1], d[0]),
        [_rand(B, H, N, simplex=True), _rand(B, H, 2 * s + 1, simplex=True)],
    )


def test_sharpen() -> None:
    torch.manual_seed(4)
    _check(
        A.sharpen,
        lambda x, y, d: stages.sharpen_backward(x[0], x[1], y[0], d[0]),
        [_rand(B, H, N, simplex=True), 1 + 3 * torch.rand(B, H)],
    )


def test_read() -> None:
    torch.manual_seed(5)
    _check(
        A.read,
        lambda x, y, d: stages.read_backward(x[0], x[1], d[0]),
        [_rand(B, N, M), _rand(B, H, N, simplex=True)],
    )


@pytest.mark.parametrize("writes", [1, 3])
def test_erase_and_write(writes: int) -> None:
    torch.manual_seed(6)
    _check(
        A.erase_and_write,
        lambda x, y, d: stages.erase_and_write_backward(*x, d[0]),
        [
            _rand(B, N, M),
            _rand(B, writes, N, simplex=True),
            torch.rand(B, writes, M),
            _rand(B, writes, M),
        ],
    )


def test_squash() -> None:
    config = NTMConfig(memory_m=M, read_heads=2, write_heads=2, shift_range=2, memory_n=N)
    sizes = projection_sizes(config)
    torch.manual_seed(7)

    def backward(x: Sequence[torch.Tensor], y: Tensors, d: Tensors) -> list[torch.Tensor]:
        return [stages.squash_backward(x[0], sizes, HeadParams(*y), HeadParams(*d))]

    _check(lambda raw: tuple(squash(raw, sizes, M)), backward, [_rand(B, sum(sizes)) * 3])


@pytest.mark.parametrize(
    ("controller", "layers", "activation"),
    [
        ("lstm", 1, "tanh"),
        ("lstm", 2, "tanh"),
        ("feedforward", 2, "relu"),
        ("feedforward", 1, "sigmoid"),
    ],
)
def test_controller_step(controller: str, layers: int, activation: str) -> None:
    config = NTMConfig(
        input_size=3, controller=controller, controller_size=5, controller_layers=layers,
        activation=activation, memory_m=M, read_heads=2,
    )  # fmt: skip
    torch.manual_seed(8)
    wt = Controller(config).double().weights()
    lstm, g = controller == "lstm", (4 if controller == "lstm" else 1) * 5

    def forward(x_proj: torch.Tensor, reads: torch.Tensor, *hc: torch.Tensor) -> Tensors:
        h, c = hc[:layers], hc[layers:]
        new_h, new_c, _ = controller_step(wt, x_proj, reads, h, c, lstm=lstm, activation=activation)
        return (*new_h, *new_c)

    def backward(x: Sequence[torch.Tensor], y: Tensors, d: Tensors) -> list[torch.Tensor]:
        h, c = tuple(x[2 : 2 + layers]), tuple(x[2 + layers :])
        _, _, saved = controller_step(wt, x[0], x[1], h, c, lstm=lstm, activation=activation)
        d_pre, d_h, d_c, d_reads = stages.controller_step_backward(
            wt, saved, c, tuple(d[:layers]), tuple(d[layers:]), activation=activation
        )
        zeros = [torch.zeros_like(t) for t in h] if not lstm else []
        return [d_pre[0], d_reads, *d_h, *zeros, *d_c]

    hc = [_rand(B, 5) for _ in range(2 * layers if lstm else layers)]
    if activation == "relu":  # keep away from relu's kink for finite differences
        x_proj = _rand(B, g) + 2.0
    else:
        x_proj = _rand(B, g)
    _check(forward, backward, [x_proj, _rand(B, 2 * M), *hc])
