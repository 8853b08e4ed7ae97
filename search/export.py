"""Export the best trial of a search as a standalone model directory.

    python search/export.py --experiment copy-asha --out exported/copy
    python search/export.py --experiment copy-asha --out exported/copy --force --register ntm-copy

Writes ``OUT/model.pt`` (format, config, weights: ``ntm.load(OUT)`` reads it), ``OUT/config.json``
(the run's RunConfig), ``OUT/metrics.json`` (the selection, the metric recorded during the
search and a fresh evaluation: at the target difficulty on the trainer's seeded evaluation
batch, and at several sizes) and ``OUT/plots/``. Everything is built in a temporary directory
beside OUT and renamed into place, so OUT is either complete or untouched.

Where the trials come from: the Ray experiment directory ``STORAGE/EXPERIMENT`` first (every
report and every checkpoint is there, it needs no server, and it is what ``Tuner.restore``
trusts); if it does not exist, the MLflow experiment of the same name (its child runs' metrics
and ``status`` tags, the checkpoint from the ``checkpoint_path`` tag or the logged artifact).
The best trial that did not diverge or error is chosen: see ``search.artifacts.rank_key``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Runnable as a script: the repository root goes on the path and this folder comes off it,
# so that search/*.py never shadow other top-level modules.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from ntm.cli import Parser, UsageError, guarded  # noqa: E402
from search.artifacts import ELIGIBLE, rank_key  # noqa: E402

PROG = "python search/export.py"
DEFAULT_STORAGE_PATH = "ray_results"  # search/run.py's default --storage-path
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@dataclass(frozen=True)
class Candidate:
    """One trial: its final status, last report, newest checkpoint and all reports."""

    trial_id: str
    status: str
    result: dict[str, Any]
    checkpoint: Path | None
    reports: list[dict[str, Any]] = field(default_factory=list)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", required=True, help="search experiment name")
    p.add_argument("--out", required=True, type=Path, help="export directory to create")
    p.add_argument("--storage-path", default=DEFAULT_STORAGE_PATH, help="Ray storage path")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI "
                   f"or {DEFAULT_TRACKING_URI})")  # fmt: skip
    p.add_argument("--metric", help="rank by this reported metric instead of level/bit errors")
    p.add_argument("--mode", choices=("min", "max"), default="min", help="with --metric")
    p.add_argument("--lengths", help="comma-separated sizes for metrics.json (default: from task)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.add_argument("--register", metavar="NAME", help="also register in the MLflow registry")
    return p


# -- reading the trials ---------------------------------------------------------------------
def from_ray(experiment_dir: Path) -> list[Candidate]:
    """Trials of a Ray experiment directory (statuses via ``search.status.trial_status``)."""
    from ray.tune import ExperimentAnalysis

    from search.status import trial_status

    try:
        analysis = ExperimentAnalysis(str(experiment_dir))
    except Exception as exc:  # no or unreadable experiment_state-*.json
        raise UsageError(f"cannot read Ray experiment {experiment_dir}: {_first(exc)}") from None
    out = []
    for trial in analysis.trials:
        result = dict(trial.last_result or {})
        status = trial_status(result or None, errored=trial.status == "ERROR")
        trial_dir = Path(str(trial.path))
        out.append(
            Candidate(str(trial.trial_id), status, result, _newest(trial_dir), _reports(trial_dir))
        )
    return out


def _newest(trial_dir: Path) -> Path | None:
    found = sorted(trial_dir.glob("checkpoint_*/checkpoint.pt"))
    return found[-1] if found else None


def _reports(trial_dir: Path) -> list[dict[str, Any]]:
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def from_mlflow(tracking_uri: str, experiment: str, scratch: Path) -> list[Candidate] | None:
    """Trials of the newest search in the MLflow experiment; None if there is none."""
    from search.mlflow_runs import child_runs, connect, find_parent

    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).is_file():
        return None  # no store there: do not create one just to look
    client = connect(tracking_uri)
    parent = find_parent(client, experiment, finished=True)
    if parent is None:
        return None
    out = []
    for run in child_runs(client, parent):
        tags, metrics = run.data.tags, dict(run.data.metrics)
        out.append(
            Candidate(tags.get("trial_id", run.info.run_id), tags.get("status", "running"),
                      metrics, _mlflow_checkpoint(client, run, scratch), [metrics])
        )  # fmt: skip
    return out


def _mlflow_checkpoint(client: Any, run: Any, scratch: Path) -> Path | None:
    path = run.data.tags.get("checkpoint_path")
    if path and (Path(path) / "checkpoint.pt").is_file():
        return Path(path) / "checkpoint.pt"
    if run.data.tags.get("status") not in ELIGIBLE:
        return None
    try:
        local = client.download_artifacts(run.info.run_id, "checkpoint", str(scratch))
    except Exception:  # no checkpoint artifact (not among the top trials)
        return None
    found = Path(local) / "checkpoint.pt"
    return found if found.is_file() else None


def select(candidates: list[Candidate], *, metric: str | None, mode: str) -> Candidate:
    """The best eligible trial; UsageError naming the statuses when there is none."""
    eligible = [c for c in candidates if c.status in ELIGIBLE and c.checkpoint is not None]
    if not eligible:
        counts: dict[str, int] = {}
        for c in candidates:
            counts[c.status] = counts.get(c.status, 0) + 1
        seen = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no trials"
        raise UsageError(f"no finished trial with a checkpoint to export ({seen}).")
    if metric is not None and not any(metric in c.result for c in eligible):
        raise UsageError(f"--metric {metric!r} was not reported by any finished trial.")
    return min(eligible, key=lambda c: rank_key(c.result, metric=metric, mode=mode))


# -- writing the export ---------------------------------------------------------------------
def default_sizes(max_level: int) -> list[int]:
    """Half, one, two and four times the training difficulty."""
    return sorted({max(1, max_level // 2), max_level, 2 * max_level, 4 * max_level})


def write_export(best: Candidate, out: Path, sizes: list[int] | None) -> dict[str, Any]:
    """model.pt, config.json, metrics.json and plots/ into ``out`` (an empty directory)."""
    import torch

    import ntm
    from ntm.checkpoint import FORMAT, load_checkpoint, save_atomic
    from ntm.evaluate import evaluate_sizes
    from ntm.trainer import Trainer
    from search.artifacts import plot_checkpoint

    assert best.checkpoint is not None  # select() only returns trials with one
    try:
        ckpt = load_checkpoint(best.checkpoint)
        trainer = Trainer.from_checkpoint(best.checkpoint)
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise UsageError(
            f"checkpoint {best.checkpoint} is corrupt or tampered: {_first(exc)}"
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
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_checkpoint(out / "model.pt", out / "plots", seed=config.train.seed)
    history = ckpt.get("history") or []
    if history:
        from ntm.plots import plot_learning_curve

        plot_learning_curve(history, out / "plots" / "learning_curve.png")
    return metrics


def register(tracking_uri: str, experiment: str, name: str, out: Path, trial_id: str) -> int:
    """Log ``out`` as an MLflow pytorch model and register it as ``name``; its version."""
    import mlflow
    import mlflow.pytorch
    import torch

    import ntm
    from search.mlflow_runs import ROLE_TAG

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


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"--out {out} exists and is not empty; pass --force to replace it.")


def _replace(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` is moved aside first, then deleted."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast, not in minutes
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    for name in ("mlflow", "alembic"):  # keep stderr to our one line on errors
        logging.getLogger(name).setLevel(logging.WARNING)
    from ntm.evaluate import parse_sizes

    sizes = parse_sizes(a.lengths) if a.lengths else None
    _check_out(a.out, a.force)
    explicit_uri = a.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    uri = explicit_uri or DEFAULT_TRACKING_URI
    if a.register or (explicit_uri and not uri.startswith("sqlite:")):
        from search.mlflow_runs import connect

        connect(uri)  # fail fast: an unreachable server is an error before any work
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{a.out.name}.tmp-", dir=a.out.parent))
    try:
        experiment_dir = Path(a.storage_path).expanduser() / a.experiment
        if experiment_dir.is_dir():
            candidates = from_ray(experiment_dir)
        else:
            found = from_mlflow(uri, a.experiment, tmp / "download")
            if found is None:
                raise UsageError(
                    f"unknown experiment {a.experiment!r}: no Ray experiment at {experiment_dir} "
                    f"and no search of that name in MLflow at {uri}."
                )
            candidates = found
        best = select(candidates, metric=a.metric, mode=a.mode)
        build = tmp / "export"
        metrics = write_export(best, build, sizes)
        if a.register:
            try:
                version = register(uri, a.experiment, a.register, build, best.trial_id)
            except Exception as exc:  # MlflowException: registry refused, server error
                raise UsageError(f"--register {a.register} failed: {_first(exc)}") from None
            metrics["registered"] = {"name": a.register, "version": version}
            (build / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        _replace(build, a.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"exported trial {best.trial_id} ({best.status}) to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(guarded(PROG, main))
