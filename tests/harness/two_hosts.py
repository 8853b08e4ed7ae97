"""Two hosts for Ray's launcher: cluster.local.yaml on a private LAN of network namespaces.

:func:`lan_cluster` builds the machines a real local cluster has, on this one
(``tests/harness/lan.py``: a bridge, ``10.77.0.0/24``, no route anywhere else):

- ``head`` (10.77.0.1) and ``worker`` (10.77.0.2): SSH nodes (``tests/harness/ssh_node.py``), each
  with its own network, PID, mount and UTS namespaces, sshd on its address only, the same key
  (Ray's launcher uses one key for every node), and one shared directory of this machine bound
  at the same path on both (``~/ntm-shared``, the "NFS");
- ``client`` (10.77.0.3): where the launcher (``ray up``, ``ray exec``, ``ray attach``, ssh)
  runs, as on your laptop: :attr:`Launch.via` prefixes every launcher command;
- ``absent`` (10.77.0.4): a listed worker whose SSH server does not run (connection refused).

The config is cluster.local.yaml with only its ``CHANGE:`` values replaced
(``tests/harness/derive_config.py``): head_ip, worker_ips (worker and absent), user, key, shared
directory, cluster name. Ray's loopback switch is not set on these nodes: Ray binds the hosts'
addresses as on a real network. On exit both nodes are killed by pid, the launcher's leftover
SSH connection masters in the client namespace are waited for (they end with the nodes) and
killed by pid if they linger, and every namespace (and with it every link) is deleted by name.
Needs root; used by tests/harness/cluster_two_hosts.py and tests/search/test_cluster_two_hosts.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from search.cluster.check import check_config
from tests.harness.cluster_launch import LOCAL_CONFIG, ROOT, VENV_LINK, Launch, launcher_dir
from tests.harness.derive_config import derive_config
from tests.harness.lan import Host, lan, namespace_pids
from tests.harness.ssh_node import SSHNode, make_key, psutil, ssh_node

__all__ = [
    "ROLES",
    "SSH_OPTIONS",
    "LanCluster",
    "lan_changes",
    "lan_cluster",
    "left_running",
    "on_client",
    "port_forward",
    "registrations",
    "session_dir",
    "ssh_argv",
    "wait_until",
]

ROLES = ("head", "worker", "client", "absent")  # in address order: 10.77.0.1, .2, .3, .4
SSH_OPTIONS = (
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
)
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_JOIN = "Registering new node."  # Ray 2.60's GCS, one line per node that joins


@dataclass(frozen=True)
class LanCluster:
    """The launch (config, head node, launcher on the client), the worker node, the hosts, and
    the shared directory as this machine sees it."""

    launch: Launch
    worker: SSHNode | None
    hosts: dict[str, Host]
    shared_dir: Path
    workers: tuple[str, ...]  # the roles listed as worker_ips


def lan_changes(
    hosts: dict[str, Host], head: SSHNode, name: str, *, workers: tuple[str, ...]
) -> dict[str, str]:
    """The CHANGE: values of cluster.local.yaml for the hosts ``workers`` (roles) behind
    ``head``."""
    worker_ips = ", ".join(hosts[role].address for role in workers)
    return {
        "ntm-search-local": name,
        "head_ip: 192.0.2.10": f"head_ip: {hosts['head'].address}",
        "[192.0.2.11, 192.0.2.12]": f"[{worker_ips}]",
        "ssh_user: ubuntu": f"ssh_user: {head.user}",
        "~/.ssh/id_ed25519": str(head.key),
        "/mnt/ntm-shared": str(head.node_home / "ntm-shared"),
    }


@contextlib.contextmanager
def lan_cluster(
    venv: Path, *, workers: tuple[str, ...] = ("worker", "absent")
) -> Iterator[LanCluster]:
    """The hosts and config of the module docstring; ``workers``: the roles listed as
    worker_ips (``()`` for a head alone)."""
    tag = str(os.getpid())
    name = f"ntm-search-lan-{tag}"
    with lan(ROLES, tag=tag) as hosts, launcher_dir(name) as (work, env):
        env.pop(_LOOPBACK_ENV, None)  # the launcher too runs as on a real network
        shared = work / "shared"
        shared.mkdir()
        key = make_key(work / "id_ed25519")
        try:
            with contextlib.ExitStack() as nodes:

                def node(role: str) -> SSHNode:
                    return nodes.enter_context(
                        ssh_node(
                            venv, venv_link=VENV_LINK, host=hosts[role], shared=shared, key=key
                        )
                    )

                head = node("head")
                worker = node("worker") if "worker" in workers else None
                config = work / "cluster.yaml"
                changes = lan_changes(hosts, head, name, workers=workers)
                config.write_text(derive_config(LOCAL_CONFIG.read_text(), changes))
                check_config(config)  # the derived config has no placeholder left
                via = tuple(hosts["client"].run([]))
                launch = Launch(config, head, str(head.node_home / "ntm-shared"), work, env, via)
                yield LanCluster(launch, worker, hosts, shared, workers)
        finally:
            _end_client(hosts["client"])


def _end_client(client: Host, timeout: float = 10.0) -> None:
    """The launcher's processes left in the client namespace (ssh ControlPersist masters,
    which exit once their node is gone): waited for, then killed by pid."""
    deadline = time.monotonic() + timeout
    while namespace_pids(client.netns) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in namespace_pids(client.netns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            print(f"killed launcher process {pid} left in {client.netns}", file=sys.stderr)


def session_dir(node: SSHNode) -> Path:
    """The node's current Ray session directory, as this machine sees it."""
    sessions = sorted((node.root / "ray-tmp").glob("session_2*"))
    if not sessions:
        raise RuntimeError(f"no Ray session on {node.root}")
    return sessions[-1]


def registrations(cluster: LanCluster, role: str) -> int:
    """How often host ``role`` has joined: the head's GCS logs each node that registers."""
    try:
        log = (session_dir(cluster.launch.node) / "logs" / "gcs_server.out").read_text()
    except (OSError, RuntimeError):
        return 0
    joined = f"node_address={cluster.hosts[role].address}\n"
    return sum(1 for line in log.splitlines(keepends=True) if _JOIN in line and joined in line)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.25)
    return time.monotonic() - start


def on_client(cluster: LanCluster, argv: list[str], timeout: float = 60) -> str:
    """A command on the client (its network), its stdout."""
    done = subprocess.run(
        cluster.hosts["client"].run(argv), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def ssh_argv(cluster: LanCluster, role: str, command: str) -> list[str]:
    """``ssh -i KEY USER@HOST COMMAND`` from the client (the README's form)."""
    node = cluster.launch.node
    target = f"{node.user}@{cluster.hosts[role].address}"
    return cluster.hosts["client"].run(["ssh", "-i", str(node.key), *SSH_OPTIONS, target, command])


@contextlib.contextmanager
def port_forward(launch: Launch) -> Iterator[None]:
    """The README's MLflow UI forward, ``ray attach CONFIG -p 5000``, held open (its shell
    reads a pipe nobody writes); on exit its process group killed."""
    with (launch.work / "attach.log").open("w") as log:
        proc = subprocess.Popen(
            launch.ray("attach", str(launch.config), "-p", "5000"),
            cwd=ROOT,
            env=launch.env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def left_running(node: SSHNode, timeout: float = 20.0) -> list[str]:
    """The node's processes but sshd's, once they have had ``timeout`` s to end (none
    expected)."""
    ps = psutil()
    deadline = time.monotonic() + timeout
    while True:
        names = []
        for proc in ps.Process(node.pid).children(recursive=True):
            try:
                if proc.name() != "sshd":
                    names.append(f"{proc.pid}:{' '.join(proc.cmdline())[:80]}")
            except ps.Error:
                continue
        if not names or time.monotonic() > deadline:
            return names
        time.sleep(0.5)
