"""Session fixtures of the MLflow tests, loaded as a plugin (``pytest_plugins``) so that one
smoke search and one server serve every test module."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.search.mlflow_helpers import Smoke, free_port, kill_group, run_search, short_tmp


@pytest.fixture(scope="session")
def smoke() -> Iterator[Smoke]:
    """One smoke search (4 tiny trials, one with NaN gradients at step 2) into sqlite."""
    root = short_tmp()
    uri = f"sqlite:///{root}/mlflow.db"
    done = run_search(root / "ray", "smoke", uri, "--inject-nan-at-step", "2", cwd=root)
    if done.returncode != 0:
        pytest.fail(f"smoke search failed ({done.returncode}):\n{done.stderr[-3000:]}")
    yield Smoke(root, root / "ray", "smoke", uri, done.stdout)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 (sqlite backend and artifacts in a temp dir)."""
    root = short_tmp()
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--backend-store-uri", f"sqlite:///{root}/server.db", "--workers", "1"]
    argv += ["--artifacts-destination", str(root / "artifacts")]
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    else:
        proc.kill()
    try:
        if proc.poll() is not None:
            log_text = (root / "server.log").read_text()[-2000:]
            pytest.fail(f"mlflow server did not start:\n{log_text}")
        yield url
    finally:
        kill_group(proc)  # type: ignore[arg-type]
        log.close()
        shutil.rmtree(root, ignore_errors=True)
