"""Addressing maths against known answers, explicit references and float64 gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ntm import addressing as A
from ntm.memory import CONSTANT_INIT

TOL = dict(atol=1e-5, rtol=1e-5)


def t(values: object) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_cosine_similarity_known_answers() -> None:
    memory = t([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [2.0, 2.0]]])  # [1, 4, 2]
    key = t([[[3.0, 0.0]]])  # [1, 1, 2]
    # cos(k, m_i) is 1, 0, -1 and 1/sqrt(2)
    expected = t([[[1.0, 0.0, -1.0, 2**-0.5]]])
    torch.testing.assert_close(A.cosine_similarity(key, memory), expected, **TOL)


def test_cosine_at_the_constant_init_is_eq6() -> None:
    # Rows at the constant init (1e-6 everywhere) get eq. (6)'s cosine, not ~0: the epsilon
    # floors |k||M(i)|, it does not sit inside each norm.
    gen = torch.Generator().manual_seed(0)
    key = torch.randn(1, 3, 20, generator=gen)  # [B, H, M]
    memory = torch.full((1, 4, 20), CONSTANT_INIT)  # [B, N, M]
    exact = key.sum(-1, keepdim=True) / (key.norm(dim=-1, keepdim=True) * 20**0.5)  # [B, H, 1]
    torch.testing.assert_close(A.cosine_similarity(key, memory), exact.expand(1, 3, 4), **TOL)
    # An all-zero row or key has a cosine of 0 (the floor keeps it finite).
    zero = A.cosine_similarity(key, torch.zeros(1, 2, 20))
    assert torch.equal(zero, torch.zeros(1, 3, 2))


def test_content_weights_known_answers() -> None:
    memory = t([[[1.0, 0.0], [0.0, 1.0]]])
    key = t([[[1.0, 0.0], [1.0, 0.0]]])  # two heads
    beta = t([[1.0, 0.0]])
    w = A.content_weights(memory, key, beta)
    # beta=1: softmax([1, 0]); beta=0: uniform whatever the key.
    expected = t([[[np.exp(1) / (np.exp(1) + 1), 1 / (np.exp(1) + 1)], [0.5, 0.5]]])
    torch.testing.assert_close(w, expected, **TOL)


def test_interpolate_known_answer() -> None:
    w = A.interpolate(t([[[1.0, 0.0, 0.0]]]), t([[[0.0, 0.0, 1.0]]]), t([[0.25]]))
    # g*w_c + (1-g)*w_prev
    torch.testing.assert_close(w, t([[[0.25, 0.0, 0.75]]]))


@pytest.mark.parametrize(
    ("shift_weights", "expected"),
    [
        ([0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0, 0.0]),  # offset +1 moves focus right
        ([1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]),  # offset -1 moves focus left
        ([0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]),  # offset 0 keeps it
        ([0.5, 0.0, 0.5], [0.5, 0.0, 0.5, 0.0, 0.0]),  # split focus
    ],
)
def test_shift_known_answers(shift_weights: list[float], expected: list[float]) -> None:
    w = t([[[0.0, 1.0, 0.0, 0.0, 0.0]]])
    torch.testing.assert_close(A.shift(w, t([[shift_weights]])), t([[expected]]))


def test_shift_wraps_around() -> None:
    # Circular: +1 from the last location lands on the first, -1 from the first on the last.
    w = t([[[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]])
    s = t([[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]])
    torch.testing.assert_close(A.shift(w, s), t([[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]))


def _explicit_circular_conv(w: np.ndarray, s: np.ndarray) -> np.ndarray:
    n, width = w.shape[-1], s.shape[-1]
    half = (width - 1) // 2
    out = np.zeros_like(w)
    for i in range(n):
        for j in range(width):
            out[..., i] += w[..., (i - (j - half)) % n] * s[..., j]
    return out


@pytest.mark.parametrize("s", [0, 1, 2, 3])
def test_shift_matches_explicit_convolution(s: int) -> None:
    gen = torch.Generator().manual_seed(s)
    w = torch.softmax(torch.randn(3, 2, 8, generator=gen), -1)
    sw = torch.softmax(torch.randn(3, 2, 2 * s + 1, generator=gen), -1)
    expected = _explicit_circular_conv(w.numpy(), sw.numpy())
    # eq. (8) computed by the textbook double loop
    np.testing.assert_allclose(A.shift(w, sw).numpy(), expected, atol=1e-6)


def test_shift_rejects_too_wide() -> None:
    with pytest.raises(ValueError, match="2s\\+1 <= N"):
        A.shift(torch.ones(1, 1, 3), torch.ones(1, 1, 5) / 5)


def test_sharpen_known_answer() -> None:
    w = A.sharpen(t([[[0.5, 0.25, 0.25]]]), t([[2.0]]))
    # squares 0.25, 0.0625, 0.0625 normalised by 0.375
    torch.testing.assert_close(w, t([[[2 / 3, 1 / 6, 1 / 6]]]), **TOL)
    # gamma = 1 is the identity on a normalised weighting
    torch.testing.assert_close(A.sharpen(t([[[0.2, 0.8]]]), t([[1.0]])), t([[[0.2, 0.8]]]), **TOL)


def test_read_known_answer() -> None:
    memory = t([[[1.0, 2.0], [3.0, 4.0]]])
    r = A.read(memory, t([[[0.5, 0.5], [0.0, 1.0]]]))
    # weighted sums of rows
    torch.testing.assert_close(r, t([[[2.0, 3.0], [3.0, 4.0]]]))


def test_erase_and_write_known_answers() -> None:
    memory = torch.ones(1, 2, 2)
    new = A.erase_and_write(memory, t([[[1.0, 0.0]]]), t([[[1.0, 0.0]]]), t([[[0.5, 0.5]]]))
    # row 0 erased in column 0 then 0.5 added everywhere; row 1 untouched
    torch.testing.assert_close(new, t([[[0.5, 1.5], [1.0, 1.0]]]))
    # two heads: erasures multiply, additions sum
    two = A.erase_and_write(
        memory,
        t([[[0.5, 0.0], [0.5, 0.0]]]),
        t([[[1.0, 1.0], [1.0, 1.0]]]),
        t([[[1.0, 0.0], [0.0, 1.0]]]),
    )
    torch.testing.assert_close(two, t([[[0.25 + 0.5, 0.25 + 0.5], [1.0, 1.0]]]))
    # inputs are never mutated
    torch.testing.assert_close(memory, torch.ones(1, 2, 2))


def _d(*shape: int, positive: bool = False, simplex: bool = False) -> torch.Tensor:
    x = torch.rand(*shape, dtype=torch.float64)
    if simplex:
        x = x / x.sum(-1, keepdim=True)
    elif not positive:
        x = x * 2 - 1
    return x.requires_grad_()


def test_gradcheck_every_function() -> None:
    torch.manual_seed(0)
    b, h, n, m = 2, 3, 6, 4
    gc = torch.autograd.gradcheck
    # each addressing function has correct analytic gradients in float64
    assert gc(A.cosine_similarity, (_d(b, h, m), _d(b, n, m)))
    assert gc(A.content_weights, (_d(b, n, m), _d(b, h, m), _d(b, h, positive=True)))
    assert gc(
        A.interpolate,
        (_d(b, h, n, simplex=True), _d(b, h, n, simplex=True), _d(b, h, positive=True)),
    )
    assert gc(A.shift, (_d(b, h, n, simplex=True), _d(b, h, 5, simplex=True)))
    gamma = (1 + torch.rand(b, h, dtype=torch.float64)).requires_grad_()
    assert gc(A.sharpen, (_d(b, h, n, simplex=True), gamma))
    assert gc(A.read, (_d(b, n, m), _d(b, h, n, simplex=True)))
    assert gc(
        A.erase_and_write,
        (_d(b, n, m), _d(b, h, n, simplex=True), _d(b, h, m, positive=True), _d(b, h, m)),
    )


def test_zero_memory_is_finite_in_value_and_gradient() -> None:
    memory = torch.zeros(2, 8, 4, requires_grad=True)
    key = torch.zeros(2, 2, 4, requires_grad=True)
    w_prev = torch.zeros(2, 2, 8)
    w_prev[..., 0] = 1.0
    beta = torch.ones(2, 2, requires_grad=True)
    gate = torch.full((2, 2), 0.5, requires_grad=True)
    sw = torch.softmax(torch.zeros(2, 2, 3), -1).requires_grad_()
    gamma = torch.full((2, 2), 1.0, requires_grad=True)
    w_g = A.interpolate(A.content_weights(memory, key, beta), w_prev, gate)
    w = A.sharpen(A.shift(w_g, sw), gamma)
    out = A.read(memory, w).sum() + A.erase_and_write(memory, w, torch.ones(2, 2, 4), key).sum()
    out.backward()
    # all-zero memory and key: finite weighting and finite gradients everywhere
    assert torch.isfinite(w).all()
    for x in (memory, key, beta, gate, sw, gamma):
        assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("n", [20, 128])
@pytest.mark.parametrize("shape", ["uniform", "near_one_hot"])
def test_sharpen_is_finite_at_any_gamma(n: int, shape: str) -> None:
    # Eq. (9) in log space: no 0/0 for gamma 1..1000 over a flat or a peaked weighting in
    # float32, in value and in gradient (the power form was NaN from gamma ~25 at N=128).
    gammas = torch.tensor([1.0, 2.0, 10.0, 19.0, 25.0, 40.0, 80.9, 200.0, 500.0, 1000.0])
    if shape == "uniform":
        w = torch.full((1, len(gammas), n), 1.0 / n)  # [B, H, N]
    else:
        w = torch.full((1, len(gammas), n), 1e-7)
        w[..., 3] = 1.0 - 1e-7 * (n - 1)
    w.requires_grad_()
    gamma = gammas.unsqueeze(0).clone().requires_grad_()  # [B, H]
    out = A.sharpen(w, gamma)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.sum(-1), torch.ones(1, len(gammas)))
    if shape == "uniform":  # a flat weighting stays flat at every gamma
        torch.testing.assert_close(out, torch.full_like(out, 1.0 / n))
    else:  # the peak only sharpens (up to the eps added at every location, at gamma = 1)
        assert bool((out[..., 3] >= w[..., 3] - n * A.SHARPEN_EPS).all())
    (out * torch.linspace(-1.0, 1.0, n)).sum().backward()
    assert w.grad is not None and gamma.grad is not None
    assert torch.isfinite(w.grad).all() and torch.isfinite(gamma.grad).all()


def test_sharpen_equals_the_power_form() -> None:
    # softmax(gamma log(w + eps)) is eq. (9) with w + eps: the power form where it is finite.
    gen = torch.Generator().manual_seed(3)
    w = torch.softmax(torch.randn(2, 3, 7, generator=gen, dtype=torch.float64), -1)
    gamma = 1 + 5 * torch.rand(2, 3, generator=gen, dtype=torch.float64)
    powered = (w + A.SHARPEN_EPS) ** gamma.unsqueeze(-1)
    expected = powered / powered.sum(-1, keepdim=True)
    torch.testing.assert_close(A.sharpen(w, gamma), expected, rtol=1e-12, atol=1e-14)
