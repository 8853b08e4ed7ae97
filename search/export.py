#!/usr/bin/env python3
"""Export the best trial of a search as a standalone model directory.

    python search/export.py --experiment copy-asha --out exported/copy
    python search/export.py --experiment copy-asha --out exported/copy --force --register ntm-copy

``--register NAME`` also logs the model to MLflow as a pyfunc (inputs [B, T, I] float32 ->
output probabilities [B, T, O]), registers it as NAME and sets ``--alias`` (``champion``):
``mlflow.pyfunc.load_model("models:/NAME@champion").predict(inputs)``.

Writes ``OUT/model.pt``, ``OUT/config.json``, ``OUT/metrics.json`` and ``OUT/plots/``
(``search.exporter.write``) for the best trial that neither diverged nor errored
(``search.exporter.candidates``: from the Ray experiment ``STORAGE_PATH/EXPERIMENT``, else
from MLflow). Everything is built in a temporary directory beside OUT and renamed into
place, so OUT is either complete or untouched. ``--storage-path`` may be relative (the
default is ``./ray_results``, as for ``search/run.py``): it is resolved here, once; or a URI
(``s3://BUCKET/PREFIX``): the trials are read there and the chosen checkpoint downloaded.
The options are the fields of ``ExportConfig`` (``search.exporter.config``), checked before
anything is read or written.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Runnable as a script: the repository root goes on the path and this folder comes off it,
# so that search/*.py never shadow other top-level modules.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import pyarrow.fs  # noqa: E402

from ntm.cli import Parser, UsageError, add_fields, field_values, guarded  # noqa: E402
from ntm.errors import first_line  # noqa: E402
from search.cluster.storage import (  # noqa: E402
    filesystem,
    require_reachable_storage,
    resolve_storage,
)
from search.exporter.candidates import Candidate, fetch, from_mlflow, from_ray, select  # noqa: E402
from search.exporter.config import ExportConfig  # noqa: E402
from search.exporter.write import register, write_export, write_metrics  # noqa: E402
from search.tracking.client import DEFAULT_TRACKING_URI, connect, tracking_uri  # noqa: E402
from search.trial.ray_logs import quiet_unreported_trials  # noqa: E402

PROG = "python search/export.py"
HELP = {
    "experiment": "search experiment name",
    "out": "export directory to create",
    "storage_path": "Ray storage path",
    "tracking_uri": f"MLflow tracking URI; None: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI}",
    "metric": "rank by this reported metric instead of level/objective",
    "mode": "with --metric",
    "lengths": "comma-separated sizes for metrics.json; None: from task",
    "force": "replace a non-empty --out",
    "register": "also register in the MLflow registry",
    "alias": "with --register: the version's alias",
}

__all__ = ["HELP", "PROG", "build_parser", "main", "parse_export_args"]


def build_parser() -> argparse.ArgumentParser:
    """The options: the fields of ``ExportConfig``."""
    p = Parser(prog=PROG, description=__doc__)
    add_fields(p, ExportConfig, HELP, store_true=("force",), metavars={"register": "NAME"})
    return p


def parse_export_args(argv: list[str] | None = None) -> ExportConfig:
    """The ``ExportConfig`` of a command line (``argv`` None: ``sys.argv``); checked."""
    return ExportConfig(**field_values(build_parser().parse_args(argv), ExportConfig))


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


def _candidates(experiment: str, storage: str, uri: str, scratch: Path) -> list[Candidate]:
    """The trials: from Ray's experiment if there is one, else from MLflow."""
    experiment_path = f"{storage}/{experiment}"
    fs, path = filesystem(experiment_path)
    if fs.get_file_info(path).type == pyarrow.fs.FileType.Directory:
        return from_ray(experiment_path)
    found = from_mlflow(uri, experiment, scratch)
    if found is None:
        raise UsageError(
            f"unknown experiment {experiment!r}: no Ray experiment at {experiment_path} "
            f"and no search of that name in MLflow at {uri}."
        )
    return found


def main(argv: list[str] | None = None) -> int:
    c = parse_export_args(argv)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast, not in minutes
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    for name in ("mlflow", "alembic"):  # keep stderr to our one line on errors
        logging.getLogger(name).setLevel(logging.WARNING)
    quiet_unreported_trials()  # a trial cut before its first report is never exported
    storage = resolve_storage(c.storage_path)  # once, here: Ray reads a relative path as a URI
    require_reachable_storage(storage)
    _check_out(c.out, c.force)
    uri = tracking_uri(c.tracking_uri)
    if c.register or (uri != DEFAULT_TRACKING_URI and not uri.startswith("sqlite:")):
        connect(uri)  # fail fast: an unreachable server is an error before any work
    c.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{c.out.name}.tmp-", dir=c.out.parent))
    try:
        best = select(_candidates(c.experiment, storage, uri, tmp / "download"),
                      metric=c.metric, mode=c.mode)  # fmt: skip
        best = fetch(best, tmp / "download")
        build = tmp / "export"
        metrics = write_export(best, build, c.sizes)
        if c.register:
            try:
                version = register(uri, c.experiment, c.register, build, best.trial_id,
                                   alias=c.alias)  # fmt: skip
            except Exception as exc:  # MlflowException: registry refused, server error
                raise UsageError(f"--register {c.register} failed: {first_line(exc)}") from None
            metrics["registered"] = {"name": c.register, "version": version, "alias": c.alias}
            write_metrics(build, metrics)
        _replace(build, c.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"exported trial {best.trial_id} ({best.status}) to {c.out}")
    return 0


def cli() -> int:
    """The console script (``pyproject.toml``): ``main`` with one-line errors and exit codes."""
    return guarded(PROG, main)


if __name__ == "__main__":
    sys.exit(cli())
