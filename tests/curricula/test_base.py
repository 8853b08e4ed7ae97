"""CurriculumConfig validation, Decision, and the shared state checks of Scheduler."""

from __future__ import annotations

import dataclasses

import pytest

from curricula import CurriculumConfig, Decision, PlateauScheduler


def test_config_defaults() -> None:
    cfg = CurriculumConfig()
    # The default curriculum is the null one over levels 1..20 with no params.
    assert (cfg.name, cfg.start_level, cfg.target_level, dict(cfg.params)) == ("none", 1, 20, {})


def test_config_target_below_start_message() -> None:
    # target_level < start_level is refused with the exact one-line message.
    with pytest.raises(ValueError) as info:
        CurriculumConfig(target_level=0)
    assert str(info.value) == "target_level must be >= start_level (1), but got target_level=0."


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start_level": 0}, "start_level"),
        ({"start_level": True}, "start_level"),
        ({"start_level": 1.5}, "start_level"),
        ({"start_level": 5, "target_level": 4}, "target_level"),
        ({"target_level": "20"}, "target_level"),
        ({"name": ""}, "name"),
        ({"params": [("patience", 3)]}, "params"),
    ],
)
def test_config_bad_fields_name_the_field(kwargs: dict[str, object], field: str) -> None:
    # Every bad field gives a one-line ValueError that names the field.
    with pytest.raises(ValueError, match=field) as info:
        CurriculumConfig(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_config_is_frozen_and_copies_params() -> None:
    params = {"patience": 3}
    cfg = CurriculumConfig(name="plateau", params=params)
    params["patience"] = 99
    # The config keeps its own copy of params.
    assert cfg.params["patience"] == 3
    # Configs are frozen dataclasses.
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.name = "none"  # type: ignore[misc]


def test_decision_is_frozen() -> None:
    decision = Decision(level=3, raised=True, reason="plateau")
    # A Decision is an immutable record.
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.level = 4  # type: ignore[misc]


def test_load_state_refuses_a_state_from_another_config() -> None:
    state = PlateauScheduler(target_level=20).state_dict()
    # A state restores only into a scheduler with the same target_level.
    with pytest.raises(ValueError, match="target_level"):
        PlateauScheduler(target_level=10).load_state_dict(state)
    # ... and the same kind of scheduler.
    with pytest.raises(ValueError, match="name"):
        PlateauScheduler().load_state_dict({**state, "name": "staged"})
    # A state missing a key says which key.
    del state["best"]
    with pytest.raises(ValueError, match="'best'"):
        PlateauScheduler().load_state_dict(state)


def test_load_state_refuses_a_level_outside_the_range() -> None:
    state = PlateauScheduler(target_level=5).state_dict()
    # The restored level must lie in [start_level, target_level].
    with pytest.raises(ValueError, match="level"):
        PlateauScheduler(target_level=5).load_state_dict({**state, "level": 6})


def test_observe_rejects_a_negative_step_and_missing_loss() -> None:
    sched = PlateauScheduler()
    # step is the trainer's non-negative step counter.
    with pytest.raises(ValueError, match="step"):
        sched.observe(-1, {"loss": 1.0, "bit_errors": 1.0})
    # The loss metric is required, and the message lists the keys that were given.
    with pytest.raises(ValueError, match="'loss'.*bit_errors"):
        sched.observe(0, {"bit_errors": 1.0})
    # A metric must be a number.
    with pytest.raises(ValueError, match="loss"):
        sched.observe(0, {"loss": "high", "bit_errors": 1.0})
