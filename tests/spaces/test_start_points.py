"""Every shipped space's first start point validates and, trained briefly, lowers its objective.

The runs keep each start point's model and optimiser but shrink the task (shorter sequences,
fewer items) so that 50-100 steps fit in a test; they check direction, not a solve. One run
trains the LSTM baseline (``model: lstm``) from a start point instead of the NTM.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.tasks import TASKS, start_point
from ntm.trainer import Trainer
from search.space.load import default_space_path, load_space
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
