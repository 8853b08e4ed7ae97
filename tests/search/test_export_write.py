"""search.exporter.write on an N-grams checkpoint: the task names the sizes an export scores
by default, and the registered model's input example is one of them."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from ntm import NTMConfig
from ntm.tasks import TaskConfig
from ntm.train_config import RunConfig, TrainConfig
from ntm.trainer import Trainer
from search.exporter.candidates import Candidate
from search.exporter.config import DEFAULT_ALIAS
from search.exporter.write import register, write_export

# N-grams has one level (max_level = 1), but its sequences are `length` bits long.
NGRAMS = RunConfig(
    task=TaskConfig(name="ngrams", params={"length": 12}),
    model=NTMConfig(controller_size=8, memory_n=8, memory_m=4),
    train=TrainConfig(batch_size=2, steps=2, report_every=1, eval_every=2, eval_batch=4),
)


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    trainer = Trainer(NGRAMS)
    trainer.run()
    checkpoint = trainer.save(tmp_path / "checkpoint.pt")
    out = tmp_path / "exported"
    out.mkdir()
    best = Candidate("t0", "completed", {}, str(checkpoint), trainer.history)
    write_export(best, out, sizes=None)
    return out


def test_default_sizes_are_the_tasks_report_sizes(exported: Path) -> None:
    metrics = json.loads((exported / "metrics.json").read_text())
    # Rule: with no --lengths, an N-grams export scores half, one and two times its length
    # (not sizes from max_level = 1, which N-grams refuses), the Bayes gap at each.
    assert [row["size"] for row in metrics["sizes"]] == [6, 12, 24]
    assert all("bayes_gap" in row for row in metrics["sizes"])
    assert (exported / "plots" / "ngrams_predictions.png").is_file()


@pytest.mark.slow
def test_an_ngrams_export_registers(
    exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root, ./mlruns, stays in tmp_path
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    version = register(uri, "ngrams", "ntm-ngrams", exported, "t0", alias=DEFAULT_ALIAS)
    # Rule: registering logs a loadable model whose input example is one report size.
    assert version == 1
    model = mlflow.pyfunc.load_model(f"models:/ntm-ngrams@{DEFAULT_ALIAS}")
    example = model.input_example
    assert example is not None and tuple(example.shape) == (2, 5, 1)  # size 6: T = 5
    assert (tmp_path / "mlruns").is_dir()
