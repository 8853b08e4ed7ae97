"""The training loop: NaN events, checkpoint-resume equivalence and a short learning test."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from curricula import CurriculumConfig
from ntm import NonFiniteError, NTMConfig, load
from ntm.checkpoint import CheckpointError
from ntm.report import Report
from ntm.tasks import TaskConfig
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import Trainer

TINY = RunConfig(
    task=TaskConfig(name="copy", params={"max_length": 4, "bits": 4}),
    model=NTMConfig(controller_size=16, memory_n=8, memory_m=5),
    curriculum=CurriculumConfig(name="plateau", params={"patience": 1}),
    train=TrainConfig(batch_size=4, steps=12, report_every=3, eval_every=6, eval_batch=8),
)


def test_injected_nan_is_raised_at_its_step_with_parameter_names() -> None:
    config = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, inject_nan_at_step=5))
    trainer = Trainer(config)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(NonFiniteError) as info:
        trainer.run()
    event = info.value
    # the event carries the step it happened at and names the offending parameters
    assert event.step == 5 and trainer.step == 4
    assert "out.weight" in event.parameters and "controller.w_x" in event.parameters
    # the optimizer never stepped on NaN: the weights are all finite
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values())
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


# The LSTM baseline (model='lstm') resumes like the NTM.
TINY_LSTM = dataclasses.replace(TINY, model=NTMConfig(model="lstm", controller_size=16))


@pytest.mark.parametrize("config", [TINY, TINY_LSTM], ids=["ntm", "lstm"])
def test_resume_from_checkpoint_gives_the_same_losses(tmp_path: Path, config: RunConfig) -> None:
    full = Trainer(config).run()
    first = Trainer(dataclasses.replace(config, train=dataclasses.replace(config.train, steps=6)))
    first.run()
    first.save(tmp_path / "half.pt")
    resumed = Trainer.from_checkpoint(tmp_path / "half.pt", steps=12)
    rest = resumed.run()
    keys = ("step", "sequences", "level", "loss", "bit_errors", "grad_norm", "objective")
    # the resumed run reproduces every later report of the uninterrupted run exactly
    assert [[r.get(k) for k in keys] for r in rest] == [[r.get(k) for k in keys] for r in full]
    full_trainer = Trainer(config)
    full_trainer.run()
    # ... and ends with the same curriculum state and the same weights, bit for bit
    assert resumed.scheduler.state_dict() == full_trainer.scheduler.state_dict()
    for k, v in full_trainer.model.state_dict().items():
        torch.testing.assert_close(v, resumed.model.state_dict()[k], rtol=0, atol=0)


def test_load_returns_a_ready_model(tmp_path: Path) -> None:
    trainer = Trainer(TINY)
    trainer.run()
    trainer.save(tmp_path / "run.pt")
    model, task, config = load(tmp_path / "run.pt")
    batch = task.sample_exact(4, 3, torch.Generator().manual_seed(0))
    logits, _, _ = model.forward_sequence(batch.inputs)
    # inference in three lines: the loaded model gives the trained model's outputs
    expected, _, _ = trainer.model.forward_sequence(batch.inputs)
    torch.testing.assert_close(logits, expected)
    assert config.task.name == "copy" and not model.training


def test_tampered_checkpoint_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    torch.save({"format": "ntm-search/1", "config": {}, "model": Evil()}, tmp_path / "bad.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    # weights_only loading refuses pickled code, and garbage is a clear error
    for name in ("bad.pt", "junk.pt", "missing.pt"):
        with pytest.raises(CheckpointError):
            load(tmp_path / name)


LEARN_STEPS = 800  # seed 0 solves copy 1-5 in about 400 steps of 16 sequences


def test_short_copy_run_learns() -> None:
    config = RunConfig(
        task=TaskConfig(name="copy", params={"max_length": 5}),
        curriculum=CurriculumConfig(name="none"),
        train=TrainConfig(
            batch_size=16,
            lr=5e-3,
            steps=LEARN_STEPS,
            report_every=50,
            eval_every=50,
            eval_batch=64,
            seed=0,
            stop_bit_errors=0.5,
        ),
    )
    trainer = Trainer(config)
    trainer.run()
    # copy 1-5 drops under 0.5 bit errors per sequence within a fixed, seeded budget
    assert trainer.evaluate()["bit_errors"] < 0.5


def test_lr_decays_once_on_solve_and_survives_resume(tmp_path: Path) -> None:
    config = dataclasses.replace(
        TINY, train=dataclasses.replace(TINY.train, lr=1e-2, lr_decay_on_solve=0.25)
    )
    trainer = Trainer(config)
    trainer._maybe_decay_lr(0.5)
    # not solved (0.5 >= 0.1 bit errors per sequence): the rate is unchanged
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)
    trainer._maybe_decay_lr(0.0)
    # solved: multiplied by the factor, once
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-3)
    assert trainer.lr_decayed
    trainer.save(tmp_path / "solved.pt")
    resumed = Trainer.from_checkpoint(tmp_path / "solved.pt")
    # a resumed run keeps the decayed rate and does not decay it again
    assert resumed.lr_decayed
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-3)
    with pytest.raises(ValueError, match="lr_decay_on_solve"):
        dataclasses.replace(TINY.train, lr_decay_on_solve=0.0)


def test_report_from_dict_inverts_to_dict() -> None:
    full = Report(
        step=6, sequences=24, level=2, loss=1.5, bit_errors=0.5, grad_norm=2.0,
        seq_per_sec=100.0, elapsed=0.2, eval_loss=1.25, eval_bit_errors=0.25, objective=0.25,
        eval_scores={"marker_accuracy": 0.75}, stop_reason="steps", engine="eager",
    )  # fmt: skip
    bare = Report(step=3, sequences=12, level=1, loss=2.0, bit_errors=1.0, grad_norm=1.0,
                  seq_per_sec=90.0, elapsed=0.1)  # fmt: skip
    # Rule: a history entry (to_dict, eval_scores flattened as eval_<name>) reads back as the
    # same Report, with or without its optional fields.
    for report in (full, bare):
        assert Report.from_dict(report.to_dict()) == report


def test_set_hyperparameters_after_restore_rules_optimizer_curriculum_and_config(
    tmp_path: Path,
) -> None:
    slow = dataclasses.replace(
        TINY,
        curriculum=CurriculumConfig(
            name="plateau", params={"patience": 50, "mastery_threshold": None}
        ),
        train=dataclasses.replace(TINY.train, lr=1e-3),
    )
    trainer = Trainer(slow)
    trainer.run()  # 4 reports at level 1: the plateau's best loss is set, no raise yet
    trainer.save(tmp_path / "run.pt")
    kept = Trainer.from_checkpoint(tmp_path / "run.pt")
    mutated = Trainer.from_checkpoint(tmp_path / "run.pt")
    moments = [s["exp_avg"].clone() for s in mutated.optimizer.state.values()]
    mutated.set_hyperparameters(lr=4e-3, curriculum_params={"patience": 1})
    # Rule: every optimizer group runs at the new rate; its moments are kept
    assert [g["lr"] for g in mutated.optimizer.param_groups] == [4e-3]
    assert all(
        torch.equal(s["exp_avg"], m)
        for s, m in zip(mutated.optimizer.state.values(), moments, strict=True)
    )
    # Rule: the recorded config (and so every later checkpoint) holds the new values, the
    # untouched curriculum parameter keeps its own
    assert mutated.config.train.lr == 4e-3
    assert dict(mutated.config.curriculum.params) == {"patience": 1, "mastery_threshold": None}
    mutated.save(tmp_path / "mutated.pt")
    again = Trainer.from_checkpoint(tmp_path / "mutated.pt")
    assert again.config.curriculum.params["patience"] == 1
    assert again.optimizer.param_groups[0]["lr"] == 4e-3
    # Rule: the curriculum keeps its state (level, best loss) and obeys the new patience: one
    # report without improvement raises the level now, where patience 50 holds it
    assert mutated.scheduler.level == kept.scheduler.level == 1
    worse = {"loss": 1e9, "bit_errors": 1e9}
    assert kept.scheduler.observe(trainer.step + 1, worse).level == 1
    assert mutated.scheduler.observe(trainer.step + 1, worse).level == 2
    # Rule: a refused value raises the config's ValueError and changes nothing
    with pytest.raises(ValueError, match="patience"):
        kept.set_hyperparameters(lr=9e-3, curriculum_params={"patience": 0})
    assert kept.config.train.lr == 1e-3 and kept.optimizer.param_groups[0]["lr"] == 1e-3


def test_set_hyperparameters_keeps_an_applied_lr_decay() -> None:
    config = dataclasses.replace(
        TINY, train=dataclasses.replace(TINY.train, lr=1e-2, lr_decay_on_solve=0.25)
    )
    trainer = Trainer(config)
    trainer._maybe_decay_lr(0.0)  # solved: the rate is 1e-2 * 0.25
    trainer.set_hyperparameters(lr=4e-3)
    # Rule: the new lr is the base rate; the decay already applied still multiplies it
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert trainer.config.train.lr == 4e-3


def _gradients_at_the_optimizer_step(clip: str, clip_value: float) -> list[torch.Tensor]:
    """The gradients the optimizer steps on, at the first step of TINY (eager engine)."""
    train = dataclasses.replace(
        TINY.train, clip=clip, clip_value=clip_value, steps=1, engine="eager"
    )
    trainer = Trainer(dataclasses.replace(TINY, train=train))
    seen: list[torch.Tensor] = []

    def record(*args: object, **kwargs: object) -> None:
        seen.extend(p.grad.clone() for p in trainer.model.parameters() if p.grad is not None)

    trainer.optimizer.step = record  # type: ignore[method-assign]
    trainer.run()
    return seen


def test_value_clipping_clamps_every_gradient_element() -> None:
    raw = _gradients_at_the_optimizer_step("none", 10.0)
    bound = 0.5 * max(float(g.abs().max()) for g in raw)  # some elements beyond it, some not
    clipped = _gradients_at_the_optimizer_step("value", bound)
    # Rule: clip=value clamps each gradient element to [-clip_value, clip_value] and leaves
    # the others as they are (pytorch-ntm's and the paper's clipping, not a norm rescale) ...
    assert len(clipped) == len(raw)
    for c, r in zip(clipped, raw, strict=True):
        torch.testing.assert_close(c, r.clamp(-bound, bound), rtol=0, atol=0)
    # ... and the check is not vacuous: some elements were beyond the bound, some within.
    flat = torch.cat([r.flatten() for r in raw])
    assert bool((flat.abs() > bound).any()) and bool((flat.abs() < bound).any())
