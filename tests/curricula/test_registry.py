"""The package surface: registry, make_scheduler, params, resume, purity, doctests."""

from __future__ import annotations

import doctest
import importlib
import inspect
import json
import random
import subprocess
import sys
from typing import Any

import pytest

import curricula
from curricula import SCHEDULERS, CurriculumConfig, Decision, make_scheduler, scheduler_param_names

NAMES = ["learning_progress", "mixed", "none", "plateau", "staged"]
SPLIT = 150  # the batch at which the resume test checkpoints

# One config per scheduler, chosen so that levels change within a few hundred batches.
CONFIGS = {
    "learning_progress": CurriculumConfig(
        name="learning_progress", target_level=6, params={"eta": 0.05, "reservoir_size": 50}
    ),
    "mixed": CurriculumConfig(
        name="mixed", target_level=10, params={"patience": 2, "min_delta": 0.05}
    ),
    "none": CurriculumConfig(name="none", target_level=10),
    "plateau": CurriculumConfig(
        name="plateau",
        target_level=10,
        params={"patience": 2, "min_delta": 0.05, "smoothing": 0.3, "cooldown": 1},
    ),
    "staged": CurriculumConfig(
        name="staged", target_level=10, params={"stages": [[0, 2], [5000, 5], [15000, 10]]}
    ),
}


def train(
    sched: curricula.Scheduler, rng: random.Random, steps: range
) -> list[tuple[int, Decision | None]]:
    """The trainer's loop with a synthetic loss: (level drawn, decision) per batch."""
    trace: list[tuple[int, Decision | None]] = []
    for step in steps:
        level = sched.next_level(rng)
        loss = 2.0 * level + 0.3 * ((step * 7919) % 13) / 13 - 0.001 * step
        if step % 37 == 0:
            loss = float("nan")
        sched.record_batch(level, loss)
        decision = None
        if step % 5 == 0:
            errors = 0.2 if step % 45 == 0 else 1.0
            metrics = {"loss": loss, "bit_errors": errors, "sequences": 50 * step}
            decision = sched.observe(step, metrics)
        trace.append((level, decision))
    return trace


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_gives_identical_future(name: str) -> None:
    cfg = CONFIGS[name]
    reference = make_scheduler(cfg)
    expected = train(reference, random.Random(42), range(400))

    first = make_scheduler(cfg)
    rng = random.Random(42)
    train(first, rng, range(SPLIT))
    state = json.loads(json.dumps(first.state_dict(), allow_nan=False))
    resumed = make_scheduler(cfg)
    resumed.load_state_dict(state)
    resumed_rng = random.Random()
    resumed_rng.setstate(rng.getstate())  # the trainer checkpoints its rng beside the state
    # Resuming from a JSON round trip of the state (and an equal rng state) gives the same
    # levels, decisions and final state as the uninterrupted run.
    assert train(resumed, resumed_rng, range(SPLIT, 400)) == expected[SPLIT:]
    assert resumed.state_dict() == reference.state_dict()
    assert resumed.history == reference.history
    # The state holds JSON types only: a JSON round trip leaves it equal.
    assert json.loads(json.dumps(state, allow_nan=False)) == state == first.state_dict()
    # The stream is rich enough that the level moves after the split (except for "none").
    assert any(step >= SPLIT for step, _ in reference.history) == (name != "none")


def test_unknown_name_message() -> None:
    # An unknown curriculum name lists the valid names.
    with pytest.raises(ValueError) as info:
        make_scheduler(CurriculumConfig(name="foo"))
    assert str(info.value) == (
        "curriculum must be one of ['learning_progress', 'mixed', 'none', 'plateau', "
        "'staged'], but got name='foo'."
    )


def test_registry_names() -> None:
    # SCHEDULERS maps each name to the class whose name it is.
    assert sorted(SCHEDULERS) == NAMES
    assert all(cls.name == name for name, cls in SCHEDULERS.items())


def test_one_name_per_scheduler() -> None:
    # Each scheduler has one name: no alias ("learning-progress" is not "learning_progress").
    with pytest.raises(ValueError, match="curriculum must be one of"):
        make_scheduler(CurriculumConfig(name="learning-progress"))
    with pytest.raises(ValueError, match="curriculum must be one of"):
        scheduler_param_names("learning-progress")


def test_unknown_param_lists_valid_keys() -> None:
    cfg = CurriculumConfig(name="plateau", params={"patience": 3, "patients": 3})
    # An unknown key is refused with the valid keys listed.
    with pytest.raises(ValueError) as info:
        make_scheduler(cfg)
    assert str(info.value) == (
        "params of curriculum 'plateau' must use keys from ['cooldown', 'factor', 'increase', "
        "'mastery_threshold', 'min_delta', 'patience', 'smoothing', 'step', 'warmup'], "
        "but got unknown key(s) ['patients']."
    )


@pytest.mark.parametrize("name", NAMES)
def test_param_names_match_constructor(name: str) -> None:
    signature = inspect.signature(SCHEDULERS[name].__init__)
    accepted = set(signature.parameters) - {"self", "start_level", "target_level"}
    # scheduler_param_names lists exactly the keyword parameters the scheduler accepts.
    assert set(scheduler_param_names(name)) == accepted
    assert len(scheduler_param_names(name)) == len(accepted)


@pytest.mark.parametrize("name", NAMES)
def test_every_scheduler_builds_from_defaults(name: str) -> None:
    sched = make_scheduler(CurriculumConfig(name=name))
    # Defaults build a working scheduler inside [start_level, target_level].
    assert 1 <= sched.level <= sched.target_level == 20
    assert 1 <= sched.next_level(random.Random(0)) <= 20


def test_params_are_validated_by_make_scheduler() -> None:
    # Bad values in params surface as the scheduler's own ValueError.
    with pytest.raises(ValueError, match="patience must be >= 1, but got patience=0."):
        make_scheduler(CurriculumConfig(name="plateau", params={"patience": 0}))


def test_imports_only_the_standard_library() -> None:
    code = (
        "import sys, curricula; "
        "bad = {'torch', 'numpy', 'ray', 'optuna', 'mlflow', 'pandas'} & set(sys.modules); "
        "print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # curricula is pure Python: importing it loads none of the heavy libraries.
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "module",
    [
        "curricula",
        "curricula.plateau",
        "curricula.mixed",
        "curricula.staged",
        "curricula.none",
        "curricula.learning_progress",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    results: Any = doctest.testmod(importlib.import_module(module))
    # The examples in the docstrings are correct.
    assert results.failed == 0
