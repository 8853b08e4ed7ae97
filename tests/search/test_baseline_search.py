"""The LSTM baseline (``model: lstm``) is searched, tracked, exported and loaded like the NTM,
through the README's two commands from an empty directory with default paths."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import ntm
from ntm.baseline import LSTMBaseline
from search.tracking.client import connect
from search.tracking.runs import child_runs, find_parent
from tests.search.mlflow_helpers import EXPORT

Runner = Callable[..., subprocess.CompletedProcess[str]]

SPACE = """\
task: copy
task_params: {min_length: 1, max_length: 3}
params:
  model: lstm
  controller: lstm
  controller_size: {int: [8, 16], step: 8}
  lr: {loguniform: [3.0e-3, 1.0e-2]}
  batch_size: 8
  curriculum: none
"""


@pytest.mark.slow
def test_baseline_is_searched_exported_and_loaded(run_cli: Runner, tmp_path: Path) -> None:
    (tmp_path / "lstm.yaml").write_text(SPACE)
    args = ["--space", "lstm.yaml", "--experiment", "base", "--num-samples", "2"]
    args += ["--max-iterations", "2", "--report-sequences", "32", "--eval-batch", "16"]
    args += ["--checkpoint-seconds", "0", "--time-budget", "120"]
    done = run_cli(*args, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # every trial's MLflow child run says it trained the baseline
    client = connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = find_parent(client, "base", finished=True)
    assert parent is not None
    children = child_runs(client, parent)
    assert len(children) == 2 and {c.data.params["model"] for c in children} == {"lstm"}
    # the README's export command, as written, then ntm.load gives back a baseline
    exported = subprocess.run(
        [sys.executable, str(EXPORT), "--experiment", "base", "--out", "exported/base"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-2000:]
    model, task, config = ntm.load(tmp_path / "exported" / "base")
    assert isinstance(model, LSTMBaseline) and config.model.model == "lstm"
    batch = task.sample_exact(2, 3, torch.Generator().manual_seed(0))
    logits = model.forward_sequence(batch.inputs)[0]
    assert logits.shape == batch.targets.shape and bool(torch.isfinite(logits).all())
