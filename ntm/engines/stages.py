"""The backward of each stage of the cell, one function per forward function it mirrors.

Each ``X_backward`` takes the forward's inputs (and output, where cheaper than recomputing)
plus the gradient of the output, and returns the gradients of the inputs. Its formula is the
first line of its docstring (d_y is dL/dy; sums run over the named axis). Each one is
gradchecked in float64 against autograd through its twin (tests/ntm/engines/test_stages.py).
"""

from __future__ import annotations

import torch

from ntm import addressing
from ntm.controller import ControllerWeights, LayerSaved, activation_slope
from ntm.heads import HeadParams

Tensor = torch.Tensor


def softmax_backward(y: Tensor, d_y: Tensor) -> Tensor:
    """d_z = y * (d_y - sum_last(d_y * y)), for y = softmax(z) over the last axis."""
    return y * (d_y - (d_y * y).sum(-1, keepdim=True))


def cosine_similarity_backward(
    key: Tensor, memory: Tensor, similarity: Tensor, d_sim: Tensor
) -> tuple[Tensor, Tensor]:
    """d_k = (d_K/D) M - sum_N(d_K K [D > eps]) k/|k|^2; d_M likewise over H (eq. 6).

    key: [B, H, M], memory: [B, N, M], similarity K, d_sim: [B, H, N] -> (d_key, d_memory).
    D = max(|k||M(i)|, eps); where the floor is active, D is a constant.
    """
    key_norm = torch.linalg.vector_norm(key, dim=-1)  # [B, H]
    mem_norm = torch.linalg.vector_norm(memory, dim=-1)  # [B, N]
    denominator = key_norm.unsqueeze(-1) * mem_norm.unsqueeze(1)  # [B, H, N]
    d_dot = d_sim / denominator.clamp_min(addressing.COSINE_EPS)
    d_norms = torch.where(denominator > addressing.COSINE_EPS, d_sim * similarity, 0.0)
    # A zero norm has a zero gradient term (its d_norms are 0), so divide by 1 there.
    key_sq = torch.where(key_norm > 0, key_norm * key_norm, 1.0)  # [B, H]
    mem_sq = torch.where(mem_norm > 0, mem_norm * mem_norm, 1.0)  # [B, N]
    d_key = torch.matmul(d_dot, memory) - (d_norms.sum(-1) / key_sq).unsqueeze(-1) * key
    d_mem = torch.matmul(d_dot.transpose(1, 2), key)  # [B, N, M]
    return d_key, d_mem - (d_norms.sum(1) / mem_sq).unsqueeze(-1) * memory


def focus_backward(
    similarity: Tensor, beta: Tensor, w_c: Tensor, d_wc: Tensor
) -> tuple[Tensor, Tensor]:
    """d_z = softmax_backward(w_c, d_wc); d_K = beta d_z; d_beta = sum_N(d_z K) (eq. 5).

    similarity, w_c, d_wc: [B, H, N], beta: [B, H] -> (d_similarity, d_beta).
    """
    d_z = softmax_backward(w_c, d_wc)
    return beta.unsqueeze(-1) * d_z, (d_z * similarity).sum(-1)


def interpolate_backward(
    w_c: Tensor, w_prev: Tensor, gate: Tensor, d_wg: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """d_wc = g d_wg; d_wprev = (1 - g) d_wg; d_g = sum_N(d_wg (w_c - w_prev)) (eq. 7).

    w_c, w_prev, d_wg: [B, H, N], gate: [B, H] -> (d_wc, d_w_prev, d_gate).
    """
    g = gate.unsqueeze(-1)  # [B, H, 1]
    return g * d_wg, (1.0 - g) * d_wg, (d_wg * (w_c - w_prev)).sum(-1)


def shift_backward(w_g: Tensor, shift_weights: Tensor, d_ws: Tensor) -> tuple[Tensor, Tensor]:
    """d_wg(i) = sum_k d_ws(i + k) s(k); d_s(k) = sum_i d_ws(i) w_g(i - k) (eq. 8).

    w_g, d_ws: [B, H, N], shift_weights: [B, H, 2s+1] -> (d_wg, d_shift_weights).
    """
    s = (shift_weights.shape[-1] - 1) // 2
    if s == 0:
        return d_ws * shift_weights, (d_ws * w_g).sum(-1, keepdim=True)
    # window j of d_ws at i holds d_ws(i - s + j) = d_ws(i + k) for k = j - s: no flip.
    d_wg = torch.matmul(addressing.circular_windows(d_ws, s), shift_weights.unsqueeze(-1))
    d_shift = (addressing.circular_windows(w_g, s) * d_ws.unsqueeze(-1)).sum(2)  # [B, H, 2s+1]
    return d_wg.squeeze(-1), d_shift.flip(-1)


def sharpen_backward(w_s: Tensor, gamma: Tensor, w: Tensor, d_w: Tensor) -> tuple[Tensor, Tensor]:
    """d_z = softmax_backward(w, d_w); d_ws = d_z gamma / (w_s + eps); d_gamma =
    sum_N(d_z log(w_s + eps)), for w = softmax(gamma log(w_s + eps)) (eq. 9).

    w_s, w, d_w: [B, H, N], gamma: [B, H] -> (d_w_s, d_gamma).
    """
    base = w_s + addressing.SHARPEN_EPS
    d_z = softmax_backward(w, d_w)
    return d_z * gamma.unsqueeze(-1) / base, (d_z * torch.log(base)).sum(-1)


def read_backward(memory: Tensor, w: Tensor, d_r: Tensor) -> tuple[Tensor, Tensor]:
    """d_M = w^T d_r; d_w = d_r M^T (eq. 2).

    memory: [B, N, M], w: [B, R, N], d_r: [B, R, M] -> (d_memory, d_w).
    """
    return torch.matmul(w.transpose(1, 2), d_r), torch.matmul(d_r, memory.transpose(1, 2))


def _others_product(keep: Tensor) -> Tensor:
    """keep: [B, W, N, M] -> for each head h the product over the other heads (no division)."""
    ones = torch.ones_like(keep[:, :1])
    before = torch.cumprod(torch.cat([ones, keep[:, :-1]], dim=1), dim=1)
    after = torch.cumprod(torch.cat([ones, keep.flip(1)[:, :-1]], dim=1), dim=1).flip(1)
    return before * after


def erase_and_write_backward(
    memory: Tensor, w: Tensor, erase: Tensor, add: Tensor, d_new: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """With P_h = prod_{h' != h}(1 - w_h' e_h'^T) and G = d_new * M (eqs. 3-4):
    d_M = d_new prod_h(1 - w_h e_h^T); d_w_h = d_new a_h - (G P_h) e_h; d_e_h = -w_h^T (G P_h);
    d_a_h = w_h^T d_new.

    memory, d_new: [B, N, M], w: [B, W, N], erase, add: [B, W, M] -> (d_M, d_w, d_e, d_a).
    """
    keep = 1.0 - w.unsqueeze(-1) * erase.unsqueeze(-2)  # [B, W, N, M]
    g = d_new * memory  # [B, N, M]
    if w.shape[1] == 1:  # one writer: P = 1, and the erase product is keep itself
        d_mem, g_others = d_new * keep[:, 0], g.unsqueeze(1)
    else:
        d_mem, g_others = d_new * keep.prod(dim=1), g.unsqueeze(1) * _others_product(keep)
    d_w = torch.matmul(add, d_new.transpose(1, 2)) - (g_others * erase.unsqueeze(-2)).sum(-1)
    d_erase = -(g_others * w.unsqueeze(-1)).sum(2)  # [B, W, M]
    return d_mem, d_w, d_erase, torch.matmul(w, d_new)


def squash_backward(raw: Tensor, sizes: tuple[int, ...], p: HeadParams, d: HeadParams) -> Tensor:
    """d_raw = [d_k, d_beta s(x_beta), d_g g(1-g), softmax_backward(s, d_s), d_gamma
    s(x_gamma), d_e e(1-e), d_a] (s: sigmoid, x: the raw input), as in ``ntm.heads.squash``.

    raw: [B, K] (split by ``sizes``); p: the squashed parameters; d: their gradients
    (HeadParams shapes) -> [B, K].
    """
    b = raw.shape[0]
    split = raw.split(sizes, dim=-1)  # in HeadParams order
    x_beta, x_gamma = split[1], split[4]  # [B, H] each
    parts = [
        d.key.reshape(b, -1),
        d.beta * torch.sigmoid(x_beta),
        d.gate * p.gate * (1.0 - p.gate),
        softmax_backward(p.shift, d.shift).reshape(b, -1),
        d.gamma * torch.sigmoid(x_gamma),
        (d.erase * p.erase * (1.0 - p.erase)).reshape(b, -1),
        d.add.reshape(b, -1),
    ]
    return torch.cat(parts, dim=-1)


def _lstm_cell_backward(
    sig: Tensor, cand: Tensor, tanh_c: Tensor, c_prev: Tensor, d_h: Tensor, d_c: Tensor
) -> tuple[Tensor, Tensor]:
    """d_c' = d_c + d_h s(o) (1 - tanh^2 c'); d_gates = [d_c' tanh(g) i(1-i), d_c' c f(1-f),
    d_c' i (1 - tanh^2 g), d_h tanh(c') o(1-o)] for one LSTM layer.

    sig: sigmoid(gates) [B, 4C]; cand, tanh_c, c_prev, d_h (of h'), d_c (of c'): [B, C]
    -> (d_gates [B, 4C], the total d_c' [B, C]).
    """
    size = cand.shape[1]
    i, f, o = sig[:, :size], sig[:, size : 2 * size], sig[:, 3 * size :]
    d_cell = d_c + d_h * o * (1.0 - tanh_c * tanh_c)
    d_gates = torch.cat(
        [
            d_cell * cand * i * (1.0 - i),
            d_cell * c_prev * f * (1.0 - f),
            d_cell * i * (1.0 - cand * cand),
            d_h * tanh_c * o * (1.0 - o),
        ],
        dim=-1,
    )
    return d_gates, d_cell


def controller_step_backward(
    wt: ControllerWeights,
    layers: tuple[LayerSaved, ...],
    c_prev: tuple[Tensor, ...],
    d_h: tuple[Tensor, ...],
    d_c: tuple[Tensor, ...],
    *,
    activation: str,
) -> tuple[list[Tensor], tuple[Tensor, ...], tuple[Tensor, ...], Tensor]:
    """Top layer down. LSTM: d_gates by ``_lstm_cell_backward``, d_c = d_c' f, d_h = d_gates W_h;
    feedforward: d_pre = d_h' activation'. Then d_below = d_pre W_in (l > 0); d_r = d_pre0 W_r.

    d_h, d_c: gradients of h', c' per layer ([B, C]; d_c empty for feedforward) ->
    (d_pre per layer, d_h of the step's input h, d_c of its c, d_reads [B, R*M]).
    """
    size = wt.bias.shape[1] // 4 if c_prev else 0
    d_h_above = list(d_h)
    d_pre = list(d_h)  # placeholders, each overwritten below
    d_h_prev: list[Tensor] = []
    d_c_prev: list[Tensor] = []
    for layer in range(len(layers) - 1, -1, -1):
        saved = layers[layer]
        if saved.gates is not None and saved.cand is not None and saved.tanh_c is not None:
            d_pre[layer], d_cell = _lstm_cell_backward(
                saved.gates, saved.cand, saved.tanh_c, c_prev[layer], d_h_above[layer], d_c[layer]
            )
            d_c_prev.append(d_cell * saved.gates[:, size : 2 * size])  # d_c = d_c' f
            d_h_prev.append(torch.matmul(d_pre[layer], wt.w_h[layer]))
        else:
            d_pre[layer] = d_h_above[layer] * activation_slope(activation, saved.h)
        if layer > 0:
            d_h_above[layer - 1] = d_h_above[layer - 1] + torch.matmul(
                d_pre[layer], wt.w_in[layer - 1]
            )
    d_reads = torch.matmul(d_pre[0], wt.w_r)  # [B, R*M]
    return d_pre, tuple(d_h_prev[::-1]), tuple(d_c_prev[::-1]), d_reads
