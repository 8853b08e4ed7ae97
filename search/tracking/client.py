"""The MLflow client of a search and export: which tracking URI (``tracking_uri``), the
connection check (``connect``), the UI's link to a search's runs (``ui_runs_url``), and the
params logged (search settings, library versions, the project's git commit).
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import optuna
import ray
import torch
from mlflow import MlflowClient

from ntm.cli import UsageError
from ntm.errors import first_line

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"  # a file in the working directory, no server
_MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
_HTTP_TIMEOUT_S = 5

__all__ = [
    "DEFAULT_TRACKING_URI",
    "UI_PORT",
    "connect",
    "environment_params",
    "file_store_path",
    "flatten_params",
    "git_commit",
    "tracking_uri",
    "ui_runs_url",
]


def tracking_uri(given: str | None) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else ``DEFAULT_TRACKING_URI``."""
    return given or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def connect(uri: str) -> MlflowClient:
    """A client for ``uri``; an unreachable server fails within a few seconds.

    Raises UsageError (one line) when the server does not answer, the store cannot be opened
    or a ``file:`` store's directory does not exist (nothing is created).
    """
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=_HTTP_TIMEOUT_S):
                pass
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(f"MLflow tracking URI {uri} is unreachable: {reason}") from None
    store = file_store_path(uri)
    if store is not None and not store.is_dir():  # MLflow would create it, or fail at length
        raise UsageError(f"MLflow tracking URI {uri}: no directory {store}") from None
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
    except Exception as exc:  # bad scheme, unwritable sqlite file, server error
        raise UsageError(f"cannot open MLflow tracking URI {uri}: {first_line(exc)}") from None
    return client


def file_store_path(uri: str) -> Path | None:
    """The directory of a ``file:`` tracking URI (``file:mlruns``, ``file:///abs``), else None."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(parsed.netloc + parsed.path).expanduser()


UI_PORT = 5000  # the port of the README's `mlflow ui` command


def ui_runs_url(uri: str, experiment_id: str) -> str:
    """Where the MLflow UI lists an experiment's runs, and how to start it for a local store.

    MLflow 3 opens an experiment in its GenAI view, which shows no runs: the link asks for the
    "Model training" view (``workflowType=machine_learning``).
    """
    page = f"#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    if uri.startswith(("http://", "https://")):
        return f"MLflow runs: {uri.rstrip('/')}/{page}"
    return (
        f"MLflow runs: start the UI with `mlflow ui --backend-store-uri {uri} --host 127.0.0.1 "
        f"--port {UI_PORT}`, then open http://127.0.0.1:{UI_PORT}/{page}"
    )


def flatten_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"task_params": {"max_length": 4}}`` -> ``{"task_params.max_length": "4"}``, sorted."""
    out: dict[str, str] = {}
    for key in sorted(values, key=str):
        value, name = values[key], f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten_params(value, f"{name}."))
        else:
            out[name] = _describe(value)[:_MAX_PARAM_CHARS]
    return out


def _describe(value: Any) -> str:
    """Stable text for a param: Ray search domains by their bounds, not their repr."""
    if isinstance(value, str | int | float | bool) or value is None:
        return str(value)  # (a str has .lower and .upper too: not a domain)
    if hasattr(value, "categories"):
        return f"choice{list(value.categories)}"
    if hasattr(value, "lower") and hasattr(value, "upper"):
        sampler = type(getattr(value, "sampler", None)).__name__.lstrip("_").lower()
        return f"{type(value).__name__.lower()}({value.lower}, {value.upper}, {sampler})"
    return str(value)


def environment_params() -> dict[str, str]:
    """Versions of the libraries a search depends on, and the project's git commit."""
    out = {
        "version.torch": torch.__version__,
        "version.ray": ray.__version__,
        "version.optuna": optuna.__version__,
        "version.mlflow": mlflow.__version__,
    }
    commit = git_commit()
    if commit is not None:
        out["git_commit"] = commit
    return out


def git_commit() -> str | None:
    """HEAD of the project checkout (``+dirty`` when it has local changes), or None."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None
