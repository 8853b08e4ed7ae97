"""Shared test setup. Ray must stay on loopback: the variable is set before anything imports ray."""

from __future__ import annotations

import os

from search.cluster.env import LOOPBACK_ENV, NEW_OUTPUT_ENV, NICENESS_ENV  # imports only os

os.environ[LOOPBACK_ENV] = "0"  # before any `import ray` (contract)
os.environ.setdefault(NEW_OUTPUT_ENV, "0")
os.environ.setdefault(NICENESS_ENV, "0")  # trials at the priority of the tests (search/run.py)
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import importlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_PY = REPO_ROOT / "search" / "run.py"

# A tiny search: copy lengths 1-3 with a 16-unit controller and a 16 x 8 memory (fast on 1 CPU).
TINY_SEARCH_ARGS: tuple[str, ...] = ("--smoke-test", "--no-tracking")


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python search/run.py ARGS`` in ``tmp_path`` (its own cwd) and capture the output."""

    def run(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(RUN_PY), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    return run


@pytest.fixture(scope="session")
def psutil() -> ModuleType:
    """psutil as bundled with Ray (ray/thirdparty_files, on sys.path once ray is imported)."""
    import ray  # noqa: F401

    return importlib.import_module("psutil")
