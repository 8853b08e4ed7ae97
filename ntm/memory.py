"""The NTM's initial memory, read vectors and head weightings (the "bias" options).

Collier & Beel 2018 found that memory initialisation decides whether an NTM trains; we
offer their three choices and, separately, learned vs fixed initial reads and weightings.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ntm.config import NTMConfig

CONSTANT_INIT = 1e-6  # Collier & Beel 2018's constant memory initialisation
_RANDOM_INIT_SEED = 1234  # the fixed draw behind memory_init='random'
_FOCUS_LOGIT = 10.0  # initial logit of location 0 for learned weightings (softmax ~ one-hot)


class InitialState(nn.Module):
    """Memory M_0 [N, M], reads r_0 [R, M] and weightings w_0 [H, N] (reads then writes).

    memory_init: constant (buffer of 1e-6), learned (parameter), random (fixed buffer).
    learn_bias: r_0 and the logits of w_0 are parameters (w_0 starts almost one-hot at
    location 0); otherwise r_0 = 0 and w_0 is one-hot at location 0 for every head.
    """

    def __init__(self, config: NTMConfig) -> None:
        super().__init__()
        n, m = config.memory_n, config.memory_m
        heads = config.read_heads + config.write_heads
        self.learn_bias = config.learn_bias
        if config.memory_init == "constant":
            self.register_buffer("memory", torch.full((n, m), CONSTANT_INIT))
        elif config.memory_init == "learned":
            bound = 1.0 / math.sqrt(n + m)
            self.memory = nn.Parameter(torch.empty(n, m).uniform_(-bound, bound))
        else:
            gen = torch.Generator().manual_seed(_RANDOM_INIT_SEED)
            std = 0.5 / math.sqrt(n + m)
            self.register_buffer("memory", torch.randn(n, m, generator=gen) * std)
        if config.learn_bias:
            self.reads = nn.Parameter(torch.randn(config.read_heads, m) * 0.01)
            # Start focused on location 0, as the fixed weighting is: a uniform start over a
            # constant memory is a symmetric point that content addressing never leaves.
            logits = torch.zeros(heads, n)
            logits[:, 0] = _FOCUS_LOGIT
            self.weight_logits = nn.Parameter(logits)
        else:
            self.register_buffer("reads", torch.zeros(config.read_heads, m))
            one_hot = torch.zeros(heads, n)
            one_hot[:, 0] = 1.0
            self.register_buffer("fixed_weights", one_hot)

    def weights(self) -> torch.Tensor:
        """w_0: [H, N]."""
        if self.learn_bias:
            return torch.softmax(self.weight_logits, dim=-1)
        return self.get_buffer("fixed_weights")
