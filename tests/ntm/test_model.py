"""The assembled NTM: configs, shapes, state handling, zero memory and masking equivalence."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ntm import NTM, NTMConfig
from ntm.metrics import bit_errors, sequence_cost_nats
from ntm.tasks import CopyTask

SMALL = NTMConfig(input_size=5, output_size=4, controller_size=16, memory_n=12, memory_m=6)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"memory_n": 0}, "memory_n"),
        ({"memory_m": 0}, "memory_m"),
        ({"shift_range": -1}, "shift_range"),
        ({"shift_range": 6}, "shift_range"),  # 2*6+1 = 13 > N = 12
        ({"controller": "gru"}, "controller"),
        ({"read_heads": 0}, "read_heads"),
        ({"write_heads": 0}, "write_heads"),
        ({"memory_init": "zeros"}, "memory_init"),
        ({"activation": "gelu"}, "activation"),
    ],
)
def test_invalid_config_names_the_field(changes: dict[str, object], field: str) -> None:
    # every invalid value is a ValueError whose message names the field and the value
    with pytest.raises(ValueError, match=field) as info:
        dataclasses.replace(SMALL, **changes)
    assert str(list(changes.values())[0]) in str(info.value)


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("memory_init", ["constant", "learned", "random"])
@pytest.mark.parametrize("learn_bias", [True, False])
def test_shapes_for_every_option(controller: str, memory_init: str, learn_bias: bool) -> None:
    cfg = dataclasses.replace(
        SMALL,
        controller=controller,
        controller_layers=2,
        read_heads=2,
        write_heads=3,
        shift_range=2,
        memory_init=memory_init,
        learn_bias=learn_bias,
    )
    model = NTM(cfg)
    state = model.initial_state(3, "cpu")
    y, new = model(torch.rand(3, 5), state)
    # one step maps [B, I] to [B, O] and keeps every state shape
    assert y.shape == (3, 4)
    assert new.memory.shape == (3, 12, 6) and new.weights.shape == (3, 5, 12)
    assert new.reads.shape == (3, 2, 6) and len(new.h) == 2
    logits, _, trace = model.forward_sequence(torch.rand(7, 3, 5), trace=True)
    # a sequence maps [T, B, I] to [T, B, O]; the trace has weightings and memory per step
    assert logits.shape == (7, 3, 4)
    assert trace is not None and trace.weights.shape == (7, 3, 5, 12)
    # the weightings are distributions over locations
    torch.testing.assert_close(trace.weights.sum(-1), torch.ones(7, 3, 5))


def test_step_does_not_mutate_state() -> None:
    model = NTM(SMALL)
    state = model.initial_state(2)
    before = [t.clone() for t in (state.memory, state.weights, state.reads)]
    model(torch.rand(2, 5), state)
    # the old state is untouched: state is immutable
    for old, now in zip(before, (state.memory, state.weights, state.reads)):
        torch.testing.assert_close(old, now)


def test_sequence_equals_stepwise() -> None:
    torch.manual_seed(0)
    model = NTM(SMALL)
    x = torch.rand(6, 2, 5)
    logits, final, _ = model.forward_sequence(x)
    state = model.initial_state(2)
    outs = []
    for t in range(6):
        y, state = model(x[t], state)
        outs.append(y)
    # the batched-projection sequence path computes the same maths as single steps
    torch.testing.assert_close(logits, torch.stack(outs))
    torch.testing.assert_close(final.memory, state.memory)


def test_zero_memory_gradients_are_finite() -> None:
    model = NTM(dataclasses.replace(SMALL, memory_init="constant"))
    with torch.no_grad():
        model.init.memory.zero_()
    logits, _, _ = model.forward_sequence(torch.rand(5, 2, 5))
    logits.sum().backward()
    # an all-zero memory gives finite outputs and finite gradients for every parameter
    assert torch.isfinite(logits).all()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_mixed_length_batch_costs_what_each_sequence_costs_alone() -> None:
    torch.manual_seed(1)
    task = CopyTask(max_length=6)
    model = NTM(
        dataclasses.replace(SMALL, input_size=task.input_size, output_size=task.output_size)
    )
    batch = task.sample(8, 6, torch.Generator().manual_seed(3))
    # the batch really mixes lengths, so padding is exercised
    assert len(set(batch.lengths.tolist())) > 1
    logits, _, _ = model.forward_sequence(batch.inputs)
    cost = sequence_cost_nats(logits, batch.targets, batch.mask)
    errors = bit_errors(logits, batch.targets, batch.mask)
    for b in range(8):
        n = int(batch.lengths[b])
        alone, _, _ = model.forward_sequence(batch.inputs[:n, b : b + 1])
        own = (batch.targets[:n, b : b + 1], batch.mask[:n, b : b + 1])
        # padded steps change neither the loss nor the bit errors of a sequence
        torch.testing.assert_close(cost[b : b + 1], sequence_cost_nats(alone, *own))
        torch.testing.assert_close(errors[b : b + 1], bit_errors(alone, *own))


def test_device_follows_inputs() -> None:
    model = NTM(SMALL)
    state = model.initial_state(1, torch.device("cpu"))
    # the state lives where it was asked to, and the output where the input was
    assert state.memory.device.type == "cpu"
    assert model(torch.rand(1, 5), state)[0].device.type == "cpu"
