"""Writing the export of one trial: ``OUT/model.pt`` (format, config, weights: ``ntm.load``
reads it), ``OUT/config.json`` (the run's RunConfig), ``OUT/metrics.json`` (the selection,
the metric recorded during the search and a fresh evaluation: at the target difficulty on
the trainer's seeded evaluation batch, and at several sizes) and ``OUT/plots/``; and the
optional registration of the model in the MLflow registry: a pyfunc model from code
(``search.exporter.pyfunc_model``) with a signature, an input example and an alias.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import torch
import yaml
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

import curricula
import ntm
from ntm.checkpoint import FORMAT, load_checkpoint, save_atomic
from ntm.cli import UsageError
from ntm.errors import first_line
from ntm.evaluate import evaluate_sizes
from ntm.plots import plot_run
from ntm.tasks import Task
from ntm.trainer import Trainer
from search.exporter import pyfunc_model
from search.exporter.candidates import Candidate
from search.tracking.runs import ROLE_TAG

__all__ = ["register", "write_export", "write_metrics"]


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
        "sizes": evaluate_sizes(model, task, sizes or task.report_sizes()),
    }
    write_metrics(out, metrics)
    gen = torch.Generator().manual_seed(config.train.seed)
    batch = task.sample(1, task.max_level, gen)  # as search.tracking.plots.plot_checkpoint
    plot_run(model, batch, ckpt.get("history") or [], out / "plots", task=task)
    return metrics


def _input_example(task: Task, seed: int) -> np.ndarray:
    """Two sequences at the task's smallest report size: [B=2, T, I] float32."""
    batch = task.sample_exact(2, task.report_sizes()[0], torch.Generator().manual_seed(seed))
    return batch.inputs.transpose(0, 1).numpy()  # [T, B, I] -> [B, T, I]


def _signature(task: Task) -> ModelSignature:
    """inputs [B, T, I] float32 -> output probabilities [B, T, O] float32."""
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, task.input_size))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, task.output_size))]),
    )


def register(
    tracking_uri: str, experiment: str, name: str, out: Path, trial_id: str, *, alias: str
) -> int:
    """Log ``out`` as an MLflow pyfunc model (``search.exporter.pyfunc_model``), register it
    as ``name`` and point ``alias`` at the new version; the version."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    exp = mlflow.set_experiment(experiment)
    _, task, config = ntm.load(out)
    tags = {ROLE_TAG: "export", "trial_id": trial_id}
    with mlflow.start_run(
        experiment_id=exp.experiment_id, run_name=f"export-{trial_id}", tags=tags
    ):
        mlflow.log_artifacts(str(out), artifact_path="export")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc_model.MODEL_CODE,  # a model from code: no pickle
            artifacts={pyfunc_model.MODEL_ARTIFACT: str(out / "model.pt")},
            code_paths=[str(Path(str(p.__file__)).parent) for p in (ntm, curricula)],
            signature=_signature(task),
            input_example=_input_example(task, config.train.seed),
            registered_model_name=name,
            pip_requirements=_requirements(),
        )
    version = int(info.registered_model_version or 0)
    MlflowClient(tracking_uri, tracking_uri).set_registered_model_alias(name, alias, str(version))
    return version


def _requirements() -> list[str]:
    """What loading the model needs besides the code it carries: pinned to this environment."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"torch=={torch.__version__.split('+')[0]}",
        f"numpy=={np.__version__}",
        f"pyyaml=={yaml.__version__}",
    ]
