"""Plots of a model at work (``ntm.plots``): each task's own plot beside the general ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ntm import NTMConfig
from ntm.baseline import make_model
from ntm.plots import TASK_PLOTS, plot_inference
from ntm.tasks import NGramsTask, PrioritySortTask, Task, TaskConfig, make_task
from ntm.tasks.ngrams import bayes_optimal_cost


def model_for(task: Task, kind: str = "ntm", write_heads: int = 2) -> torch.nn.Module:
    config = NTMConfig(
        input_size=task.input_size, output_size=task.output_size, model=kind,
        controller_size=16, memory_n=16, memory_m=8, read_heads=1, write_heads=write_heads,
    )  # fmt: skip
    return make_model(config).eval()


def files(paths: list[Path]) -> set[str]:
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    return {p.name for p in paths}


@pytest.mark.parametrize("kind", ["ntm", "lstm"])
def test_ngrams_plot_beside_the_general_ones(tmp_path: Path, kind: str) -> None:
    task = NGramsTask(n=3, length=30)
    batch = task.sample(2, 1, torch.Generator().manual_seed(0))
    paths = plot_inference(model_for(task, kind), batch, tmp_path, task=task)
    # Rule: N-grams adds its predictor plot, for the NTM and the LSTM baseline alike.
    assert TASK_PLOTS["ngrams"] in files(paths)
    assert "output_vs_target.png" in files(paths)


def test_bayes_predictions_score_as_the_bayes_cost() -> None:
    task = NGramsTask(n=4, length=60)
    batch = task.sample(3, 1, torch.Generator().manual_seed(1))
    p_one = task.bayes_predictions(batch)  # [T, B]
    came = batch.targets[..., 0].double()
    bits = -torch.log2(torch.where(came > 0.5, p_one, 1 - p_one)).sum(0)
    # Rule: the plotted predictor is the one the objective scores against.
    torch.testing.assert_close(bits, bayes_optimal_cost(batch, 4))


def test_priority_sort_plot_of_the_write_heads(tmp_path: Path) -> None:
    task = PrioritySortTask(bits=4, num_inputs=6, num_outputs=4)
    batch = task.sample(2, task.max_level, torch.Generator().manual_seed(0))
    paths = plot_inference(model_for(task), batch, tmp_path, task=task)
    assert {TASK_PLOTS["priority_sort"], "weightings.png", "memory.png"} <= files(paths)
    # Rule: the LSTM baseline has no write heads: no such plot, and no error.
    lstm_paths = plot_inference(model_for(task, "lstm"), batch, tmp_path / "lstm", task=task)
    assert files(lstm_paths) == {"output_vs_target.png"}


def test_no_task_plot_for_a_task_without_one(tmp_path: Path) -> None:
    task = make_task(TaskConfig(name="copy", params={"max_length": 3, "bits": 4}))
    batch = task.sample(1, task.max_level, torch.Generator().manual_seed(0))
    paths = plot_inference(model_for(task), batch, tmp_path, task=task)
    assert files(paths) == {"output_vs_target.png", "weightings.png", "memory.png"}
