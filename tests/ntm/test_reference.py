"""Every engine against the independent loop reference (tests/ntm/reference.py), float64.

Logits and every parameter's gradient of a masked loss on a mixed-length batch must agree
to 1e-10, on configurations that cover: 2 read + 2 write heads with shift range 2; a
feedforward controller (tanh, and 2-layer relu); a 2-layer LSTM; each memory init; bias
learning on and off; 3 write heads with no shift. ``compiled`` runs one configuration
(tests/ntm/engines/test_compiled.py), to keep the compile affordable.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ntm.config import NTMConfig
from ntm.engines import sequence_logits
from ntm.metrics import sequence_cost_nats
from ntm.model import NTM
from tests.ntm.reference import reference_logits

SMALL = NTMConfig(input_size=5, output_size=4, controller_size=6, memory_n=9, memory_m=4)
CONFIGS = {
    "lstm-2r2w-s2": replace(SMALL, read_heads=2, write_heads=2, shift_range=2),
    "ff-tanh-2r2w-s2": replace(
        SMALL, controller="feedforward", read_heads=2, write_heads=2, shift_range=2
    ),
    "ff-relu-2layers-random": replace(
        SMALL,
        controller="feedforward",
        controller_layers=2,
        activation="relu",
        memory_init="random",
    ),
    "lstm-2layers-learned": replace(SMALL, controller_layers=2, memory_init="learned"),
    "lstm-fixed-bias-random": replace(SMALL, learn_bias=False, memory_init="random"),
    "lstm-3writes-s0-fixed-bias": replace(SMALL, write_heads=3, shift_range=0, learn_bias=False),
}
TOL = {"rtol": 1e-10, "atol": 1e-10}


def loss_and_grads(
    config: NTMConfig, logits_of: object
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(logits, grads) of a masked loss on a batch of lengths 7, 4, 1 (T = 7), float64."""
    torch.manual_seed(1)
    model = NTM(config).double()
    gen = torch.Generator().manual_seed(2)
    inputs = torch.rand(7, 3, config.input_size, generator=gen, dtype=torch.float64)
    targets = torch.rand(7, 3, config.output_size, generator=gen, dtype=torch.float64).round()
    mask = (torch.arange(7).unsqueeze(1) < torch.tensor([7, 4, 1])).double()  # [T, B]
    logits = logits_of(model, inputs * mask.unsqueeze(-1))  # type: ignore[operator]
    sequence_cost_nats(logits, targets, mask).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


def assert_matches_reference(config: NTMConfig, engine: str) -> None:
    ref_logits, ref_grads = loss_and_grads(config, reference_logits)
    logits, grads = loss_and_grads(config, lambda m, x: sequence_logits(m, x, engine))
    # Rule: the engine's logits are the paper's equations', to 1e-10 in float64.
    torch.testing.assert_close(logits, ref_logits, **TOL)
    # Rule: every parameter gets a gradient, equal to the reference's to 1e-10.
    assert grads.keys() == ref_grads.keys()
    for name, grad in ref_grads.items():
        torch.testing.assert_close(grads[name], grad, **TOL, msg=name)


@pytest.mark.parametrize("engine", ["eager", "manual"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_engine_matches_reference(name: str, engine: str) -> None:
    assert_matches_reference(CONFIGS[name], engine)
