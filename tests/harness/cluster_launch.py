"""Launching cluster.local.yaml on this machine: the node, the derived config, launcher steps.

:func:`launched` gives a one-node cluster to run Ray's launcher against: an SSH node
(``tests/harness/ssh_node.py``) and a config derived from cluster.local.yaml by changing only its
``CHANGE:`` values (``tests/harness/derive_config.py``), checked by ``search.cluster.check``.
:func:`run_step` runs one launcher command (``ray up``, ``ray exec``, ...) with a timeout and
its log. Used by tests/harness/cluster_up.py and tests/search/test_cluster_up.py, and (with the
launcher on a LAN host, :attr:`Launch.via`) by tests/harness/two_hosts.py.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from search.cluster.check import check_config
from tests.harness.derive_config import derive_config, node_changes
from tests.harness.ssh_node import SSHNode, port_in_use, ssh_node

ROOT = Path(__file__).resolve().parents[2]
LOCAL_CONFIG = ROOT / "cluster.local.yaml"
RAY_PORTS = (6379, 8076, 8077, 5000)  # GCS, object and node manager, MLflow: fixed in the YAML
VENV_LINK = "ntm-venv"  # the venv cluster.local.yaml's setup makes (test -x skips making it)
STEP_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Launch:
    """A launched cluster: its derived config, the node, and where this run keeps its files."""

    config: Path
    node: SSHNode
    shared: str  # the shared directory, as the node sees it
    work: Path  # this machine's side: launcher temp dir, logs, fetched export
    env: dict[str, str]
    via: tuple[str, ...] = ()  # the launcher's command prefix (a LAN host's `ip netns exec`)

    def ray(self, *args: str) -> list[str]:
        """A `ray` command of the launcher (this interpreter's Ray), run where it runs."""
        return [*self.via, *ray_cli(*args)]


def run_step(
    launch: Launch,
    name: str,
    argv: list[str],
    *,
    timeout: float = STEP_TIMEOUT_S,
    poll: Callable[[], None] | None = None,
) -> float:
    """Run one launcher command (own process group, killed whole on timeout); its seconds.

    ``poll`` is called about twice a second while the command runs (listener sampling).
    """
    log = launch.work / f"{name}.log"
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=launch.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while proc.poll() is None:
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise RuntimeError(
                    f"{name}: no result after {timeout:.0f} s: {log.read_text()[-1500:]}"
                )
            if poll is not None:
                poll()
            time.sleep(0.5)
        rc = proc.returncode
    if rc != 0:
        raise RuntimeError(f"{name} exited {rc}: {log.read_text()[-6000:]}")
    return time.monotonic() - start


def ray_cli(*args: str) -> list[str]:
    """The `ray` command of this interpreter's environment (the launcher's Ray)."""
    return [str(Path(sys.executable).parent / "ray"), *args]


def _forget_cluster(name: str) -> None:
    """Ray's launcher-side files for cluster ``name`` (its ssh masters end with the node)."""
    for suffix in ("state", "lock"):
        Path(f"/tmp/ray/cluster-{name}.{suffix}").unlink(missing_ok=True)
    user = hashlib.sha256(getpass.getuser().encode()).hexdigest()[:10]  # as Ray's SSH runner
    shutil.rmtree(f"/tmp/ray_ssh_{user}/{hashlib.sha256(name.encode()).hexdigest()[:10]}", True)


@contextlib.contextmanager
def launcher_dir(name: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """The launcher's temporary directory (its HOME) and environment, for cluster ``name``;
    on exit both removed, with Ray's launcher-side files for the cluster."""
    work = Path(tempfile.mkdtemp(prefix="ntm-launcher-", dir="/tmp"))
    env = {**os.environ, "HOME": str(work), "TMPDIR": str(work), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    try:
        yield work, env
    finally:
        _forget_cluster(name)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def launched(
    venv: Path, *, changes: Callable[[SSHNode, str], dict[str, str]] = node_changes
) -> Iterator[Launch]:
    """A fresh node and the config derived with ``changes`` (checked before any `ray` command);
    on exit the node killed by pid.

    Killing the node ends whatever `ray up` started on it (Ray, MLflow), even after a failure
    half-way; the launcher's own state for the cluster is removed too.
    """
    taken = [p for p in RAY_PORTS if port_in_use(p)]
    if taken:
        raise RuntimeError(f"port(s) {taken} on 127.0.0.1 are taken; the cluster needs them")
    name = f"ntm-search-up-{os.getpid()}"
    with launcher_dir(name) as (work, env), ssh_node(venv, venv_link=VENV_LINK) as node:
        config = work / "cluster.yaml"
        config.write_text(derive_config(LOCAL_CONFIG.read_text(), changes(node, name)))
        check_config(config)  # the derived config has no placeholder left
        yield Launch(config, node, str(node.node_home / "ntm-shared"), work, env)


def on_head(launch: Launch, command: str) -> list[str]:
    """`ray exec CONFIG COMMAND`: a command in a login shell on the head."""
    return launch.ray("exec", str(launch.config), command)
