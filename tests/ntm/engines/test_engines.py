"""The fast engines against the eager cell in float32: same loss, same gradients.

The float64 comparison with an independent reference is tests/ntm/test_reference.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ntm import engines
from ntm.config import NTMConfig
from ntm.engines import (
    AUTO_COMPILE_AFTER_STEPS,
    ENGINES,
    check_engine,
    resolve_engine,
    sequence_logits,
)
from ntm.metrics import sequence_cost_nats
from ntm.model import NTM
from ntm.tasks import TaskConfig
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import Trainer

SMALL = NTMConfig(input_size=5, output_size=4, controller_size=12, memory_n=10, memory_m=6)
CONFIGS = {
    "lstm-2r2w-s2": replace(SMALL, read_heads=2, write_heads=2, shift_range=2),
    "ff-2r2w-s2": replace(
        SMALL, controller="feedforward", read_heads=2, write_heads=2, shift_range=2
    ),
    "ff-relu-2layers": replace(
        SMALL, controller="feedforward", controller_layers=2, activation="relu"
    ),
    "lstm-2layers-s0-learned": replace(
        SMALL, controller_layers=2, shift_range=0, memory_init="learned"
    ),
    "lstm-3writes-fixed": replace(SMALL, write_heads=3, learn_bias=False),
}


def _loss_and_grads(
    config: NTMConfig, engine: str, *, zero_memory: bool = False
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Masked copy-like loss on a mixed-length batch (lengths 9, 6, 2 of T=9) and its grads."""
    torch.manual_seed(1)
    model = NTM(config)
    if zero_memory:
        model.init.memory.zero_()
    gen = torch.Generator().manual_seed(2)
    inputs = torch.rand(9, 3, config.input_size, generator=gen)  # [T, B, I]
    targets = torch.rand(9, 3, config.output_size, generator=gen).round()  # [T, B, O]
    lengths = torch.tensor([9, 6, 2])
    mask = (torch.arange(9).unsqueeze(1) < lengths).float()  # [T, B]; padding at the end
    inputs = inputs * mask.unsqueeze(-1)
    logits = sequence_logits(model, inputs, engine)
    loss = sequence_cost_nats(logits, targets, mask).mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def _assert_same(config: NTMConfig, engine: str, *, zero_memory: bool = False) -> None:
    loss0, grads0 = _loss_and_grads(config, "eager", zero_memory=zero_memory)
    loss1, grads1 = _loss_and_grads(config, engine, zero_memory=zero_memory)
    # Rule: the fast engine computes the eager loss, to float32 rounding.
    torch.testing.assert_close(loss1, loss0, rtol=1e-5, atol=0.0)
    # Rule: every parameter gets a gradient, equal to eager's to ~1e-5 of the gradient scale
    # (an absolute floor: some gradients, e.g. w_0's logits, cancel to rounding noise).
    assert grads1.keys() == grads0.keys()
    scale = max(float(g.abs().max()) for g in grads0.values())
    for name, grad in grads0.items():
        torch.testing.assert_close(grads1[name], grad, rtol=1e-4, atol=1e-5 * scale, msg=name)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_manual_matches_eager(name: str) -> None:
    _assert_same(CONFIGS[name], "manual")


def test_all_zero_memory_gradients_are_finite_and_match() -> None:
    config = CONFIGS["lstm-2r2w-s2"]
    _, grads = _loss_and_grads(config, "manual", zero_memory=True)
    # Rule: COSINE_EPS keeps cosine similarity and its gradient finite at an all-zero memory.
    assert all(bool(torch.isfinite(g).all()) for g in grads.values())
    _assert_same(config, "manual", zero_memory=True)


def test_engine_names_are_checked() -> None:
    # Rule: an unknown engine is a ValueError that lists the valid engines.
    with pytest.raises(ValueError, match="engine must be one of"):
        check_engine("fused")
    with pytest.raises(ValueError, match=str(list(ENGINES)).replace("[", r"\[")):
        TrainConfig(engine="fused")
    # Rule: on CPU, auto runs a run's first AUTO_COMPILE_AFTER_STEPS steps with the
    # hand-written backward uncompiled, and compiles after (outside a run: compiled).
    after = AUTO_COMPILE_AFTER_STEPS
    assert resolve_engine("auto", "cpu") == "compiled"
    assert resolve_engine("auto", "cpu", done=0) == "manual"
    assert resolve_engine("auto", "cpu", done=after - 1) == "manual"
    assert resolve_engine("auto", "cpu", done=after) == "compiled"
    assert resolve_engine("auto", "meta", done=0) == "eager"
    assert resolve_engine("eager", "cpu", done=10**6) == "eager"
    # Rule: the LSTM baseline runs eager whatever auto would choose, and refuses the others.
    assert resolve_engine("auto", "cpu", done=after, model="lstm") == "eager"
    with pytest.raises(ValueError, match="for model='lstm'"):
        check_engine("manual", model="lstm")


# A 4-step copy run of a tiny NTM: two reports of two steps.
TINY_RUN = RunConfig(
    task=TaskConfig(name="copy", params={"max_length": 3, "bits": 3}),
    model=NTMConfig(controller_size=8, memory_n=6, memory_m=4),
    train=TrainConfig(batch_size=2, steps=4, report_every=2, eval_every=4, eval_batch=2),
)


def test_trainer_reports_its_engine() -> None:
    config = TINY_RUN
    trainer = Trainer(config)
    history = trainer.run()
    # Rule: the resolved engine is on the trainer and in every report (a run's first steps
    # run manual under auto).
    assert trainer.engine == "manual"
    assert [r["engine"] for r in history] == ["manual", "manual"]
    eager = Trainer(replace(config, train=replace(config.train, engine="eager")))
    assert eager.engine == "eager"


def test_auto_switches_to_compiled_after_its_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    config = TINY_RUN
    monkeypatch.setattr(engines, "AUTO_COMPILE_AFTER_STEPS", 2)
    history = Trainer(config).run()
    # Rule: steps 1-2 run manual, steps 3-4 compiled (a real compile), reported per window
    assert [r["engine"] for r in history] == ["manual", "compiled"]
    # ... and the switch keeps the run's numbers: the losses of an all-manual run, to float
    # rounding (the same cell, compiled)
    manual = Trainer(replace(config, train=replace(config.train, engine="manual"))).run()
    assert [r["loss"] for r in history] == pytest.approx([r["loss"] for r in manual], rel=1e-4)
