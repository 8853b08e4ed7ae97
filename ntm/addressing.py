"""NTM addressing as pure, batched functions (Graves et al. 2014, section 3.3).

Every function is batched over the batch B and the heads H at once (no Python loop over
either), takes device and dtype from its inputs, and never mutates its inputs.
Shapes use the paper's symbols: N memory locations of width M, s the shift range.
"""

from __future__ import annotations

import torch

# Floor of the denominator |k||M(i)| of eq. (6): keeps K finite for an all-zero key or
# row, and sits far below |k| * 4.5e-6, the norm of a row at the constant init (M=20), so
# such rows get eq. (6)'s cosine rather than ~0.
COSINE_EPS = 1e-8
# Added to w before the log of eq. (9): keeps log w, and the gradient with respect to gamma,
# finite where w(i) = 0.
SHARPEN_EPS = 1e-6


def cosine_similarity(key: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """K[u, v] of eq. (6), for every head and location: u.v / max(|u||v|, COSINE_EPS).

    key: [B, H, M], memory: [B, N, M] -> [B, H, N].
    """
    dot = torch.matmul(key, memory.transpose(1, 2))  # [B, H, N]
    return dot / cosine_denominator(key, memory)


def cosine_denominator(key: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """max(|k||M(i)|, COSINE_EPS), eq. (6)'s denominator. key: [B, H, M], memory: [B, N, M]
    -> [B, H, N]. vector_norm's gradient at 0 is 0 (a subgradient), so it stays finite."""
    key_norm = torch.linalg.vector_norm(key, dim=-1)  # [B, H]
    mem_norm = torch.linalg.vector_norm(memory, dim=-1)  # [B, N]
    return (key_norm.unsqueeze(-1) * mem_norm.unsqueeze(1)).clamp_min(COSINE_EPS)


def content_weights(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Content addressing w^c, eq. (5): softmax over locations of beta * K[k, M(i)].

    memory: [B, N, M], key: [B, H, M], beta (key strength, >= 0): [B, H] -> [B, H, N].
    """
    return focus(cosine_similarity(key, memory), beta)


def focus(similarity: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The softmax half of eq. (5): similarity K: [B, H, N], beta: [B, H] -> w^c [B, H, N]."""
    return torch.softmax(beta.unsqueeze(-1) * similarity, dim=-1)


def interpolate(w_content: torch.Tensor, w_prev: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """Interpolation w^g, eq. (7): g * w^c + (1 - g) * w_{t-1}.

    w_content, w_prev: [B, H, N], gate g in [0, 1]: [B, H] -> [B, H, N].
    """
    g = gate.unsqueeze(-1)  # [B, H, 1]
    return g * w_content + (1.0 - g) * w_prev


def shift(w: torch.Tensor, shift_weights: torch.Tensor) -> torch.Tensor:
    """Circular convolution w~, eq. (8): w~(i) = sum_k w(i - k) s(k) for k in -s..s.

    w: [B, H, N], shift_weights: [B, H, 2s+1] (index j holds offset k = j - s) -> [B, H, N].
    Requires 2s+1 <= N; s = 0 is the identity times s(0).
    """
    n = w.shape[-1]
    width = shift_weights.shape[-1]
    s = (width - 1) // 2
    if width % 2 != 1 or width > n:
        raise ValueError(f"shift weights must have odd width 2s+1 <= N ({n}), but got {width}.")
    if s == 0:
        return w * shift_weights
    # w(i - s + j) pairs with offset k = s - j, i.e. shift index 2s - j: flip the weights.
    flipped = shift_weights.flip(-1).unsqueeze(-1)  # [B, H, 2s+1, 1]
    return torch.matmul(circular_windows(w, s), flipped).squeeze(-1)


def circular_windows(w: torch.Tensor, s: int) -> torch.Tensor:
    """w: [B, H, N] -> [B, H, N, 2s+1]: window j of location i holds w(i - s + j), mod N."""
    n = w.shape[-1]
    padded = torch.cat([w[..., n - s :], w, w[..., :s]], dim=-1)  # [B, H, N + 2s]
    return padded.unfold(-1, 2 * s + 1, 1)


def sharpen(w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Sharpening, eq. (9): w^gamma / sum_j w(j)^gamma, as softmax_j(gamma * log w(j)).

    w: [B, H, N], gamma >= 1: [B, H] -> [B, H, N]. In log space the largest term is 1
    after the softmax's max shift, so no gamma underflows the sum to 0/0 (the power form did
    at gamma ~ 25 over a uniform w, N=128, in float32). SHARPEN_EPS keeps log w finite.
    """
    return torch.softmax(gamma.unsqueeze(-1) * torch.log(w + SHARPEN_EPS), dim=-1)


def read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Reading, eq. (2): r = sum_i w(i) M(i).

    memory: [B, N, M], w: [B, H, N] -> r: [B, H, M].
    """
    return torch.matmul(w, memory)


def erase_and_write(
    memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, add: torch.Tensor
) -> torch.Tensor:
    """Writing, eqs. (3)-(4), for H write heads: every head erases, then every head adds.

    memory: [B, N, M], w: [B, H, N], erase e in [0, 1]: [B, H, M], add a: [B, H, M]
    -> new memory [B, N, M]: M * prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T.
    """
    keep = 1.0 - w.unsqueeze(-1) * erase.unsqueeze(-2)  # [B, H, N, M]
    # One writer needs no product (prod over a size-1 dim is slow, forward and backward).
    retained = memory * (keep[:, 0] if keep.shape[1] == 1 else keep.prod(dim=1))  # [B, N, M]
    return retained + torch.matmul(w.transpose(1, 2), add)  # [B, N, H] @ [B, H, M]
