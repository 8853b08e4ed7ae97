"""An independent NTM: the paper's equations as plain loops over sequences, time and heads.

Nothing here calls ``ntm.addressing``, ``ntm.heads`` or ``ntm.controller``: only the model's
parameter tensors are shared, so autograd through this loop gives a reference gradient for
every parameter. Slow by design (tiny sizes only). Two choices of the implementation are
copied on purpose, because they change values: sharpening adds ``SHARPEN_EPS`` before the
power, and several write heads all erase before any adds.
"""

from __future__ import annotations

import torch

from ntm.addressing import SHARPEN_EPS
from ntm.model import NTM

Tensor = torch.Tensor


def _sigmoid(x: Tensor) -> Tensor:
    return 1.0 / (1.0 + torch.exp(-x))


def _softplus(x: Tensor) -> Tensor:
    return torch.log(1.0 + torch.exp(x))


def _softmax(x: Tensor) -> Tensor:
    e = torch.exp(x - x.max())
    return e / e.sum()


def _controller(model: NTM, x: Tensor, r_prev: list[Tensor], h: list[Tensor], c: list[Tensor]):
    """One sequence: x [I], r_prev R x [M], h, c per layer [C] -> (h', c')."""
    ctl, size = model.controller, model.config.controller_size
    lstm = model.config.controller == "lstm"
    act = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": _sigmoid}[model.config.activation]
    new_h: list[Tensor] = []
    new_c: list[Tensor] = []
    for layer in range(model.config.controller_layers):
        if layer == 0:
            pre = ctl.w_x @ x + ctl.w_r @ torch.cat(r_prev) + ctl.bias[0]
        else:
            pre = ctl.w_in[layer - 1] @ new_h[-1] + ctl.bias[layer]
        if lstm:
            z = pre + ctl.w_h[layer] @ h[layer]
            i, f = _sigmoid(z[:size]), _sigmoid(z[size : 2 * size])
            g, o = torch.tanh(z[2 * size : 3 * size]), _sigmoid(z[3 * size :])
            new_c.append(f * c[layer] + i * g)
            new_h.append(o * torch.tanh(new_c[-1]))
        else:
            new_h.append(act(pre))
    return new_h, new_c


def _address(memory: Tensor, w_prev: Tensor, raw: dict[str, Tensor], s: int) -> Tensor:
    """One head: eqs. (5)-(9) over N locations; raw holds the head's unsquashed outputs."""
    n = memory.shape[0]
    key, beta = raw["key"], _softplus(raw["beta"])
    gate, gamma = _sigmoid(raw["gate"]), 1.0 + _softplus(raw["gamma"])
    shift = _softmax(raw["shift"])  # index j is offset j - s
    cos = torch.stack(
        [
            key @ memory[i] / (torch.sqrt(key @ key) * torch.sqrt(memory[i] @ memory[i]))
            for i in range(n)
        ]
    )  # eq. (6)
    w_c = _softmax(beta * cos)  # eq. (5)
    w_g = gate * w_c + (1.0 - gate) * w_prev  # eq. (7)
    w_s = torch.stack(
        [sum(w_g[(i - (j - s)) % n] * shift[j] for j in range(2 * s + 1)) for i in range(n)]
    )  # eq. (8)
    powered = (w_s + SHARPEN_EPS) ** gamma  # eq. (9)
    return powered / powered.sum()


def _split(model: NTM, raw: Tensor) -> list[dict[str, Tensor]]:
    """The head projection [K] -> per head its raw key, beta, gate, shift, gamma (+erase, add)."""
    cfg = model.config
    heads, m, width = cfg.read_heads + cfg.write_heads, cfg.memory_m, cfg.num_shifts
    at = {"key": 0, "beta": heads * m, "gate": heads * m + heads}
    at["shift"] = at["gate"] + heads
    at["gamma"] = at["shift"] + heads * width
    at["erase"] = at["gamma"] + heads
    at["add"] = at["erase"] + cfg.write_heads * m
    out = []
    for h in range(heads):
        head = {
            "key": raw[at["key"] + h * m : at["key"] + (h + 1) * m],
            "beta": raw[at["beta"] + h],
            "gate": raw[at["gate"] + h],
            "shift": raw[at["shift"] + h * width : at["shift"] + (h + 1) * width],
            "gamma": raw[at["gamma"] + h],
        }
        j = h - cfg.read_heads
        if j >= 0:
            head["erase"] = _sigmoid(raw[at["erase"] + j * m : at["erase"] + (j + 1) * m])
            head["add"] = raw[at["add"] + j * m : at["add"] + (j + 1) * m]
        out.append(head)
    return out


def reference_logits(model: NTM, inputs: Tensor) -> Tensor:
    """inputs: [T, B, I] -> logits [T, B, O], one sequence at a time."""
    cfg, init = model.config, model.init
    reads_n, heads = cfg.read_heads, cfg.read_heads + cfg.write_heads
    if cfg.learn_bias:
        w0 = [_softmax(init.weight_logits[h]) for h in range(heads)]
    else:
        w0 = [init.get_buffer("fixed_weights")[h] for h in range(heads)]
    sequences = []
    for b in range(inputs.shape[1]):
        memory, w = init.memory, list(w0)
        reads = [init.reads[r] for r in range(reads_n)]
        zeros = [inputs.new_zeros(cfg.controller_size) for _ in range(cfg.controller_layers)]
        h, c = zeros, zeros
        logits = []
        for t in range(inputs.shape[0]):
            h, c = _controller(model, inputs[t, b], reads, h, c)
            params = _split(model, model.heads.proj.weight @ h[-1] + model.heads.proj.bias)
            w = [_address(memory, w[k], params[k], cfg.shift_range) for k in range(heads)]
            reads = [w[r] @ memory for r in range(reads_n)]  # eq. (2), from M_{t-1}
            for k in range(reads_n, heads):  # eq. (3): every write head erases ...
                memory = memory * (1.0 - torch.outer(w[k], params[k]["erase"]))
            for k in range(reads_n, heads):  # eq. (4): ... then every write head adds
                memory = memory + torch.outer(w[k], params[k]["add"])
            logits.append(model.out.weight @ torch.cat([h[-1], *reads]) + model.out.bias)
        sequences.append(torch.stack(logits))  # [T, O]
    return torch.stack(sequences, dim=1)  # [T, B, O]
