"""Every shipped space's start points: all inside their space and buildable, the published
recipes among them, and the first one, trained briefly, lowers its objective.

The runs keep each start point's model and optimiser but shrink the task (shorter sequences,
fewer items) so that 50-100 steps fit in a test; they check direction, not a solve. One run
trains the LSTM baseline (``model: lstm``) from a start point instead of the NTM.
"""

from __future__ import annotations

from typing import Any

import pytest

from ntm.tasks import TASKS
from ntm.trainer import Trainer
from search.space.format import RandomSuggester
from search.space.load import default_space_path, load_space, start_point
from search.trial.config import run_config_from_trial

# Small versions of each task, where a short run of the recipe must lower its objective.
SMALL: dict[str, dict[str, Any]] = {
    "copy": {"max_length": 5},
    "repeat_copy": {"max_length": 3, "max_repeats": 3},
    "associative_recall": {"max_items": 3},
    "ngrams": {"n": 3, "length": 40},
    "priority_sort": {"num_inputs": 5, "num_outputs": 4},
}


@pytest.mark.parametrize("task", TASKS)
def test_start_point_is_a_complete_point_of_its_space(task: str) -> None:
    space = load_space(default_space_path(task))
    first = space.start_points[0]
    # the recipe fixes every parameter the space searches (nothing is left to chance) ...
    searched = {p.name for p in space.params if p.kind != "value"}
    active = set(start_point(task)) - {"task", "task_params"}
    assert searched & active <= set(first)
    # ... and it builds a valid run config
    run_config_from_trial({**start_point(task), "max_reports": 1})


def test_start_point_by_index_and_out_of_range() -> None:
    space = load_space(default_space_path("copy"))
    last = len(space.start_points) - 1
    # start point N is the N-th entry of the space file, completed with the fixed values
    assert space.start_points[last].items() <= start_point("copy", last).items()
    # an index outside 0..last is a one-line ValueError naming the file, the range and the index
    for bad in (-1, last + 1):
        with pytest.raises(ValueError, match=rf"copy\.yaml has {last + 1} start points "
                           rf"\(0-{last}\), but got {bad}$"):  # fmt: skip
            start_point("copy", bad)


# The published recipes (known answers, written out here independently of the space files).
# The paper, Graves et al. 2014, section 4.6: tables 1 (feed-forward) and 2 (LSTM), every
# gradient element clipped to +-10, RMSprop with momentum 0.9, memory 128 x 20; its "N heads"
# read as N read + N write heads.
_PAPER = {
    "memory_n": 128,
    "memory_m": 20,
    "optimizer": "rmsprop",
    "momentum": 0.9,
    "clip": "value",
    "clip_value": 10.0,
}


def _paper(controller: str, size: int, heads: int, lr: float, layers: int = 1) -> dict[str, Any]:
    return _PAPER | {
        "controller": controller,
        "controller_size": size,
        "controller_layers": layers,
        "read_heads": heads,
        "write_heads": heads,
        "lr": lr,
    }


PUBLISHED: dict[str, list[dict[str, Any]]] = {
    "copy": [_paper("feedforward", 100, 1, 1e-4), _paper("lstm", 100, 1, 1e-4)],
    "repeat_copy": [_paper("feedforward", 100, 1, 1e-4), _paper("lstm", 100, 1, 1e-4)],
    "associative_recall": [_paper("feedforward", 256, 4, 1e-4), _paper("lstm", 100, 1, 1e-4)],
    "ngrams": [_paper("feedforward", 100, 1, 3e-5), _paper("lstm", 100, 1, 3e-5)],
    "priority_sort": [_paper("feedforward", 512, 8, 3e-5), _paper("lstm", 100, 5, 3e-5, 2)],
}
# pytorch-ntm (tasks/copytask.py, tasks/repeatcopytask.py): the paper's LSTM at batch 1,
# RMSprop alpha 0.95, memory from a fixed random draw.
PYTORCH_NTM = _paper("lstm", 100, 1, 1e-4) | {
    "batch_size": 1,
    "rmsprop_alpha": 0.95,
    "memory_init": "random",
}
PUBLISHED["copy"].append(PYTORCH_NTM)
PUBLISHED["repeat_copy"].append(PYTORCH_NTM)
RECIPES = [(task, recipe) for task, recipes in PUBLISHED.items() for recipe in recipes]
RECIPE_IDS = [
    f"{task}-{'pytorch-ntm' if recipe is PYTORCH_NTM else 'paper-' + recipe['controller']}"
    for task, recipe in RECIPES
]


def _points(task: str) -> list[dict[str, Any]]:
    """Each start point of the task's space as the full config it gives (fixed values too)."""
    space = load_space(default_space_path(task))
    return [space.sample(RandomSuggester(i, p)) for i, p in enumerate(space.start_points)]


@pytest.mark.parametrize("task", TASKS)
def test_every_start_point_is_inside_its_space_and_builds(task: str) -> None:
    space = load_space(default_space_path(task))  # loading refuses a point outside the space
    by_name = {p.name: p for p in space.params}
    for point, full in zip(space.start_points, _points(task), strict=True):
        # Rule: each value is one its parameter can take (a listed value, or in the range on
        # its step grid), and the point's config builds a valid run config.
        assert all(by_name[k].contains(v) for k, v in point.items()), point
        run_config_from_trial(
            {**full, "task": task, "task_params": space.task_params, "max_reports": 1}
        )


@pytest.mark.parametrize(("task", "recipe"), RECIPES, ids=RECIPE_IDS)
def test_the_published_recipes_are_start_points(task: str, recipe: dict[str, Any]) -> None:
    # Rule: every shipped space holds the paper's recipes (and pytorch-ntm's, where it has
    # one) among its start points, so that the search tries them and its ranges contain them.
    assert any(recipe.items() <= full.items() for full in _points(task)), recipe


@pytest.mark.parametrize(
    "task,model,steps",
    [(task, "ntm", 100 if task == "associative_recall" else 50) for task in TASKS]
    + [("associative_recall", "lstm", 100)],
)
def test_a_short_seeded_run_of_the_start_point_lowers_the_objective(
    task: str, model: str, steps: int
) -> None:
    trial = {**start_point(task), "seed": 0, "max_reports": 1, "eval_batch": 64, "model": model}
    if model == "lstm":  # the paper's baseline: an LSTM (the recipe's optimiser and curriculum)
        trial = {k: v for k, v in trial.items() if k != "activation"} | {"controller": "lstm"}
    trial["task_params"] = {**trial["task_params"], **SMALL[task]}
    trial["report_sequences"] = steps * int(trial["batch_size"])  # one report at the end
    trainer = Trainer(run_config_from_trial(trial))
    before = trainer.evaluate()["objective"]
    trainer.run()
    after = trainer.evaluate()["objective"]
    # a short run of the recipe moves the task's objective down, by a clear margin
    assert after < 0.9 * before, (before, after)
