"""Writing the export of one trial: ``OUT/model.pt`` (format, config, weights: ``ntm.load``
reads it), ``OUT/config.json`` (the run's RunConfig), ``OUT/metrics.json`` (the selection,
the metric recorded during the search and a fresh evaluation: at the target difficulty on
the trainer's seeded evaluation batch, and at several sizes) and ``OUT/plots/``; and the
optional registration of the model in the MLflow registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pytorch
import torch

import ntm
from ntm.checkpoint import FORMAT, load_checkpoint, save_atomic
from ntm.cli import UsageError
from ntm.errors import first_line
from ntm.evaluate import evaluate_sizes
from ntm.plots import plot_learning_curve
from ntm.trainer import Trainer
from search.exporter.candidates import Candidate
from search.tracking.plots import plot_checkpoint
from search.tracking.runs import ROLE_TAG

__all__ = ["default_sizes", "register", "write_export", "write_metrics"]


def default_sizes(max_level: int) -> list[int]:
    """Half, one, two and four times the training difficulty."""
    return sorted({max(1, max_level // 2), max_level, 2 * max_level, 4 * max_level})


def write_metrics(out: Path, metrics: dict[str, Any]) -> None:
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


def write_export(best: Candidate, out: Path, sizes: list[int] | None) -> dict[str, Any]:
    """model.pt, config.json, metrics.json and plots/ into ``out`` (an empty directory)."""
    if best.checkpoint is None:
        raise ValueError(f"trial {best.trial_id} has no checkpoint to export.")
    try:
        ckpt = load_checkpoint(best.checkpoint)
        trainer = Trainer.from_checkpoint(best.checkpoint)
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise UsageError(
            f"checkpoint {best.checkpoint} is corrupt or tampered: {first_line(exc)}"
        ) from None
    save_atomic({"format": FORMAT, "config": ckpt["config"], "model": ckpt["model"]},
                out / "model.pt")  # fmt: skip
    model, task, config = ntm.load(out)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    torch.set_num_threads(config.train.threads)
    recorded = next((r for r in best.reports if r.get("step") == ckpt.get("step")), {})
    metrics = {
        "task": task.name,
        "trial_id": best.trial_id,
        "status": best.status,
        "step": ckpt.get("step"),
        "recorded": {k: recorded[k] for k in ("eval_loss", "eval_bit_errors") if k in recorded},
        "target_level": trainer.evaluate(),
        "sizes": evaluate_sizes(model, task, sizes or default_sizes(task.max_level)),
    }
    write_metrics(out, metrics)
    plot_checkpoint(out / "model.pt", out / "plots", seed=config.train.seed)
    history = ckpt.get("history") or []
    if history:
        plot_learning_curve(history, out / "plots" / "learning_curve.png")
    return metrics


def register(tracking_uri: str, experiment: str, name: str, out: Path, trial_id: str) -> int:
    """Log ``out`` as an MLflow pytorch model and register it as ``name``; its version."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    exp = mlflow.set_experiment(experiment)
    model = ntm.load(out).model
    tags = {ROLE_TAG: "export", "trial_id": trial_id}
    with mlflow.start_run(
        experiment_id=exp.experiment_id, run_name=f"export-{trial_id}", tags=tags
    ):
        mlflow.log_artifacts(str(out), artifact_path="export")
        info = mlflow.pytorch.log_model(
            model,
            name="model",
            registered_model_name=name,
            # pt2 would trace forward(x, state) with an example; pickle needs `ntm` importable
            serialization_format="pickle",
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
    return int(info.registered_model_version or 0)
