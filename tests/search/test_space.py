"""Space files: every shipped one loads; bad ones fail with one line naming the field."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from curricula import scheduler_param_names
from search.space.format import SpaceError
from search.space.load import SPACES_DIR, load_space, space_schedule
from search.trial.config import run_config_from_trial

SHIPPED = sorted(SPACES_DIR.glob("*.yaml"))
TASKS = ("associative_recall", "copy", "ngrams", "priority_sort", "repeat_copy")

MINIMAL = """\
task: copy
task_params: {max_length: 5}
params:
  controller_size: {int: [16, 32], step: 8}
  memory_n: 16
  memory_m: 8
  curriculum: {choice: [none, plateau]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_one_space_file_per_task() -> None:
    # Rule: search/spaces holds exactly one space per task.
    assert sorted(p.stem for p in SHIPPED) == sorted(TASKS)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_space_loads_and_says_how_to_run(path: Path) -> None:
    space = load_space(path)
    # Rule: each file validates and is for the task it is named after.
    assert space.task == path.stem
    # Rule: each file opens with a comment saying how to run it.
    first_lines = path.read_text().splitlines()[:4]
    assert first_lines[0].startswith("#")
    assert any("python search/run.py" in line for line in first_lines)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_optuna_samples_of_shipped_spaces_build_run_configs(path: Path) -> None:
    space = load_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(10):
        trial = study.ask()
        config = space(trial)
        run = run_config_from_trial(
            {**config, "task": space.task, "task_params": space.task_params}
        )
        # Rule: curriculum parameters sampled are exactly ones the chosen curriculum takes.
        assert set(run.curriculum.params) <= set(scheduler_param_names(run.curriculum.name))
        study.tell(trial, 1.0)


def test_conditional_parameters_follow_their_parent(tmp_path: Path) -> None:
    text = MINIMAL + "  patience: {int: [2, 4], when: {curriculum: plateau}}\n"
    space = load_space(write(tmp_path, text))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        config = space(trial)
        seen.add(config["curriculum"])
        # Rule: `patience` exists exactly when curriculum == plateau.
        assert ("patience" in config) == (config["curriculum"] == "plateau")
        study.tell(trial, 1.0)
    # Rule: both branches were exercised (the test is not vacuous).
    assert seen == {"none", "plateau"}


def test_yaml_1_2_floats_are_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "task: copy\nparams:\n  lr: {loguniform: [1e-4, 1.0e-2]}\n  clip_value: 5e3\n"
        "  momentum: {uniform: [0, 9e-1]}\n  controller_size: 16\n",
    )
    by_name = {p.name: p for p in load_space(path).params}
    # Rule: 1e-4, 1.0e-2 and 5e3 are floats (YAML 1.2), not strings; 16 stays an int.
    assert by_name["lr"].values == (1e-4, 1e-2)
    assert by_name["clip_value"].values == (5000.0,)
    assert by_name["momentum"].values == (0, 0.9)
    assert by_name["controller_size"].values == (16,)
    assert isinstance(by_name["controller_size"].values[0], int)


BAD_SPACES = [
    ("task: copy\nparams: [unclosed\n", "malformed YAML"),
    ("task: nope\nparams: {lr: 0.1}\n", "task: must be one of"),
    ("task: copy\nparams: {lr: 0.1}\nextra: 1\n", "top level: unknown key(s) ['extra']"),
    ("task: copy\nparams: {learning_rate: 0.1}\n", "params.learning_rate: unknown parameter"),
    ("task: copy\nparams: {lr: {loguniform: [0.0, 1.0]}}\n", "params.lr: loguniform bounds"),
    (
        "task: copy\nparams: {controller_size: 64.5}\n",
        "params.controller_size: must be of type int",
    ),
    ("task: copy\nparams: {batch_size: {uniform: [8, 32]}}\n", "params.batch_size: is of type int"),
    (
        "task: copy\nparams: {lr: {choice: [0.1], int: [1, 2]}}\n",
        "params.lr: must have exactly one",
    ),
    (
        "task: copy\nparams:\n  patience: {int: [2, 4], when: {curriculum: plateau}}\n"
        "  curriculum: {choice: [none, plateau]}\n",
        "params.patience: when refers to 'curriculum'",
    ),
    (
        "task: copy\nparams:\n  curriculum: {choice: [none, plateau]}\n  patience: 3\n",
        "params.patience: curriculum 'none' takes []",
    ),
    (
        "task: copy\nparams: {curriculum: {choice: [none, fancy]}}\n",
        "params.curriculum: must be one of",
    ),
    (
        "task: copy\nparams:\n  memory_n: 4\n  shift_range: {int: [1, 2]}\n",
        "is invalid: shift_range must satisfy",
    ),
    (
        "task: copy\nparams: {lr: {loguniform: [1.0e-4, 1.0e-2]}}\nstart_points: [{lr: 0.5}]\n",
        "start_points[0].lr: 0.5 is outside the space",
    ),
    # A start point its own space excludes (Optuna would try it anyway, with only a warning).
    (
        "task: copy\nparams: {clip: norm}\nstart_points: [{clip: value}]\n",
        "start_points[0].clip: 'value' is outside the space (value ['norm'])",
    ),
    (
        "task: copy\nparams: {memory_init: {choice: [constant, learned]}}\n"
        "start_points: [{memory_init: random}]\n",
        "start_points[0].memory_init: 'random' is outside the space (choice ['constant', 'le",
    ),
    (
        "task: copy\nparams: {controller_size: {int: [64, 128], step: 16}}\n"
        "start_points: [{controller_size: 64}, {controller_size: 100}]\n",
        "start_points[1].controller_size: 100 is outside the space (int [64, 128], step 16)",
    ),
    (
        "task: copy\nparams: {momentum: {uniform: [0.5, 0.9], step: 0.1}}\n"
        "start_points: [{momentum: 0.75}]\n",
        "start_points[0].momentum: 0.75 is outside the space (uniform [0.5, 0.9], step 0.1)",
    ),
    (
        "task: copy\nparams: {learn_bias: {choice: [true, false]}}\n"
        "start_points: [{learn_bias: 1}]\n",
        "start_points[0].learn_bias: 1 is outside the space",
    ),
    (
        "task: copy\nparams:\n  optimizer: rmsprop\n  rmsprop_alpha: {uniform: [0.9, 1.0]}\n",
        "is invalid: rmsprop_alpha must be in (0, 1), but got rmsprop_alpha=1.0.",
    ),
    (
        "task: copy\nparams: {rmsprop_centered: {choice: [false, 1]}}\n",
        "params.rmsprop_centered: must be of type bool, but got 1",
    ),
    (
        "task: copy\nparams: {memory_n: 16}\nschedule: {grace: 3}\n",
        "schedule.grace: unknown key; valid keys are ['report_sequences', 'max_iterations'",
    ),
    (
        "task: copy\nparams: {memory_n: 16}\nschedule: {grace_period: 2.5}\n",
        "schedule.grace_period: must be of type int, but got 2.5",
    ),
    (
        "task: copy\nparams: {memory_n: 16}\nschedule: {report_sequences: 0}\n",
        "schedule.report_sequences: must be > 0, but got 0",
    ),
    (
        "task: copy\nparams: {memory_n: 16}\nschedule: {trial_seconds: -1.0}\n",
        "schedule.trial_seconds: must be >= 0, but got -1.0",
    ),
    (
        "task: copy\nparams: {memory_n: 16}\nschedule: [20]\n",
        "schedule: must be a mapping, but got [20]",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPACES, ids=[m for _, m in BAD_SPACES])
def test_bad_space_is_one_line_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    text_of_error = str(info.value)
    # Rule: the error names the file and the field, on a single line.
    assert message in text_of_error
    assert str(path) in text_of_error
    assert "\n" not in text_of_error


def test_a_start_point_on_its_float_step_grid_is_inside(tmp_path: Path) -> None:
    text = (
        "task: copy\nparams: {momentum: {uniform: [0.5, 0.9], step: 0.1}}\n"
        "start_points: [{momentum: 0.7}, {momentum: 0.9}]\n"
    )
    # Rule: a float on the step grid up to rounding (0.5 + 2 * 0.1 != 0.7 exactly) is inside.
    assert len(load_space(write(tmp_path, text)).start_points) == 2


def test_schedule_is_read_with_its_types(tmp_path: Path) -> None:
    text = MINIMAL + "schedule: {grace_period: 20, reduction_factor: 4, trial_seconds: 0}\n"
    path = write(tmp_path, text)
    # Rule: the schedule's values take their option's type (reduction_factor 4 -> 4.0); a
    # space without one has an empty schedule.
    assert load_space(path).schedule == {
        "grace_period": 20,
        "reduction_factor": 4.0,
        "trial_seconds": 0.0,
    }
    assert space_schedule(path) == load_space(path).schedule
    assert space_schedule(write(tmp_path, MINIMAL)) == {}


def test_missing_space_file_is_an_error(tmp_path: Path) -> None:
    # Rule: a file that cannot be read is a SpaceError naming it.
    with pytest.raises(SpaceError, match="cannot be read"):
        load_space(tmp_path / "absent.yaml")


def test_with_fixed_overrides_parameters_and_task_params(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, MINIMAL)).with_fixed(
        {"controller_size": 8}, task_params={"max_length": 3}
    )
    config = space.sample(optuna.create_study().ask())
    # Rule: fixed values replace the searched ones; task params are replaced.
    assert config["controller_size"] == 8
    assert dict(space.task_params) == {"max_length": 3}


def test_trial_config_with_unknown_key_is_rejected() -> None:
    # Rule: the trial config -> RunConfig boundary rejects keys it does not know, listing them.
    with pytest.raises(ValueError, match=r"unknown trial config key\(s\) \['colour'\]"):
        run_config_from_trial({"task": "copy", "colour": "red"})


def test_report_every_gives_equal_sequences_per_report() -> None:
    small = run_config_from_trial({"batch_size": 8, "report_sequences": 256, "max_reports": 3})
    large = run_config_from_trial({"batch_size": 32, "report_sequences": 256, "max_reports": 3})
    # Rule: one report (ASHA iteration) is report_sequences sequences, whatever the batch size.
    assert small.train.report_every * 8 == large.train.report_every * 32 == 256
    # Rule: every report evaluates, and the step limit is max_reports reports.
    assert small.train.eval_every == small.train.report_every
    assert small.train.steps == 3 * small.train.report_every
