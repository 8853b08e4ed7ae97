"""The LSTM baseline (model='lstm'): the controller alone, trained, resumed and loaded."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ntm import NTMConfig, load
from ntm.baseline import LSTMBaseline, make_model
from ntm.model import NTM
from ntm.tasks import TaskConfig
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import Trainer

TINY = RunConfig(
    task=TaskConfig(name="copy", params={"max_length": 4, "bits": 4}),
    model=NTMConfig(model="lstm", controller_size=16, controller_layers=2),
    train=TrainConfig(batch_size=4, steps=12, report_every=3, eval_every=6, eval_batch=8),
)


def test_make_model_builds_the_kind_the_config_names() -> None:
    config = NTMConfig(input_size=5, output_size=4, controller_size=8)
    # model='ntm' is the NTM, model='lstm' the baseline: one factory decides
    assert isinstance(make_model(config), NTM)
    baseline = make_model(dataclasses.replace(config, model="lstm"))
    assert isinstance(baseline, LSTMBaseline)
    # the baseline has no memory or heads: only the controller and the output layer
    names = {n.split(".")[0] for n, _ in baseline.named_parameters()}
    assert names == {"controller", "out"}


def test_unknown_model_and_fast_engine_are_refused() -> None:
    with pytest.raises(ValueError, match=r"model must be one of \['ntm', 'lstm'\]"):
        NTMConfig(model="gru")
    # the fast engines are NTM-only: asking for one with the baseline is a config error
    train = dataclasses.replace(TINY.train, engine="manual")
    with pytest.raises(ValueError, match="engine must be one of"):
        RunConfig(model=TINY.model, train=train)


def test_step_and_sequence_agree_and_match_a_reference_lstm() -> None:
    torch.manual_seed(0)
    model = LSTMBaseline(NTMConfig(model="lstm", input_size=3, output_size=2, controller_size=5))
    x = torch.randn(6, 2, 3)  # [T, B, I]
    logits, _, trace = model.forward_sequence(x)
    # forward_sequence is forward applied step by step from initial_state
    state, steps = model.initial_state(2), []
    for x_t in x:
        y, state = model(x_t, state)
        steps.append(y)
    torch.testing.assert_close(logits, torch.stack(steps))
    assert trace is None
    # the same maths as torch's LSTM with the controller's weights (gates i, f, g, o)
    ctrl = model.controller
    ref = torch.nn.LSTM(3, 5)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(ctrl.w_x)
        ref.weight_hh_l0.copy_(ctrl.w_h[0])
        ref.bias_ih_l0.copy_(ctrl.bias[0])
        ref.bias_hh_l0.zero_()
        expected = model.out(ref(x)[0])
    torch.testing.assert_close(logits, expected)


def test_trains_and_loads_like_the_ntm(tmp_path: Path) -> None:
    # (resuming is tested beside the NTM's in tests/ntm/test_trainer.py, learning with the
    # start points in tests/spaces/test_start_points.py)
    trainer = Trainer(TINY)
    history = trainer.run()
    # evaluation reports carry the task's objective (bit errors for copy)
    assert history[-1]["objective"] == history[-1]["eval_bit_errors"]
    trainer.save(tmp_path / "run.pt")
    model, task, config = load(tmp_path / "run.pt")
    # ntm.load rebuilds the baseline from its checkpoint, ready for inference
    assert isinstance(model, LSTMBaseline) and config.model.model == "lstm"
    batch = task.sample_exact(3, 4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        model.forward_sequence(batch.inputs)[0], trainer.model.forward_sequence(batch.inputs)[0]
    )


def test_cli_trains_and_evaluates_the_baseline(tmp_path: Path) -> None:
    ckpt = tmp_path / "lstm.pt"
    train = [sys.executable, "-m", "ntm.train", "--model", "lstm", "--task", "repeat_copy"]
    train += ["--task-param", "max_length=3", "--task-param", "max_repeats=2"]
    train += ["--controller-size", "8", "--steps", "4", "--report-every", "2"]
    subprocess.run([*train, "--checkpoint", str(ckpt)], check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-m", "ntm.evaluate", str(ckpt), "--lengths", "2,3", "--json"]
        + ["--plots", str(tmp_path / "plots")],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(out.stdout)
    # ntm.evaluate reports the objective and repeat copy's marker accuracy per size
    assert report["objective"] == "bit_errors"
    assert [r["size"] for r in report["results"]] == [2, 3]
    for row in report["results"]:
        assert row["objective"] == row["bit_errors"] and 0 <= row["marker_accuracy"] <= 1
    # plots: the output against the target; no weightings or memory (the baseline has none)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "learning_curve.png",
        "output_vs_target.png",
    ]
