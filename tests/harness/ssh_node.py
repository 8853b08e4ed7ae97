"""This machine as a cluster node for Ray's `local` provider: sshd on port 22, isolated.

:func:`ssh_node` starts an OpenSSH server (Debian's ``openssh-server``) that listens on port 22
only (the one port Ray's local provider connects to) of 127.0.0.1, or of a host's address on a
private LAN (``host``, ``tests/harness/lan.py``), accepts one key made for the run in a temporary
directory, and runs in its own PID and mount namespaces, so that the node behaves like a
separate machine without touching this one:

- its own process table: the ``ray stop`` of ``ray up``/``ray down`` and ``--address auto`` see
  only the node's processes, never another Ray running here;
- its own home: a fresh directory (from /etc/skel) bind-mounted over the SSH user's home, with
  ``~/VENV_LINK`` a link to ``venv``; the base interpreter of ``venv`` is bound into it when it
  lives under that home (pyenv);
- its own /run (a tmpfs holding sshd's privilege separation directory ``/run/sshd``, which
  nothing creates on a machine whose sshd service never ran);
- ``venv`` (an installed project venv) under a copy-on-write overlay, so the node's setup
  commands install into it without changing it, and a private /tmp/ray;
- offline installs: ``PIP_NO_INDEX=1`` and build isolation off in every session (sshd
  ``SetEnv``), so the setup's ``pip install`` steps find everything installed but the project,
  which they build with the venv's own setuptools: no package index is needed (a LAN host has
  no route to one);
- on 127.0.0.1, the environment ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` in every session (sshd
  ``SetEnv``): Ray's loopback switch, the one the local default uses, so Ray on the node binds
  127.0.0.1. It shares this machine's network, so its listeners are real and can be sampled
  (:func:`node_listeners`);
- on a LAN ``host``: that host's network namespace (its own interfaces, address and ports), its
  own hostname (a UTS namespace) and an /etc/hosts naming it, and no loopback switch: Ray binds
  the host's address as on a real network;
- ``shared``: a directory of this machine bind-mounted as ``~/ntm-shared`` (the "NFS" that every
  node of a cluster sees at the same path); without it, a directory of the node's own.

On exit one SIGKILL to the namespace's parent, by pid, ends every process of the node (the
kernel kills a PID namespace with its init), and the directory goes. Needs root, ``unshare``
and ``mount`` (util-linux), ``sshd``, ``ssh-keygen`` and ``rsync``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tests.harness.lan import Host

__all__ = [
    "SSH_PORT",
    "SSHNode",
    "make_key",
    "node_listeners",
    "port_in_use",
    "psutil",
    "ssh_node",
]

SSH_PORT = 22  # Ray's local provider has no port setting
SSHD = "/usr/sbin/sshd"
_TOOLS = (SSHD, "ssh", "ssh-keygen", "rsync", "unshare", "mount")
_START_TIMEOUT_S = 20.0
_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class SSHNode:
    """A running node: its directory, SSH user and key, home (outside view), parent pid, and
    its LAN host (None: sshd listens on this machine's 127.0.0.1)."""

    root: Path
    user: str
    key: Path
    home: Path  # the node's home directory, as this machine sees it
    node_home: Path  # the same directory as the node's sessions see it (the user's home)
    pid: int  # the `unshare` process: SIGKILL to it ends every process of the node
    host: Host | None = None


def psutil() -> ModuleType:
    """psutil as bundled with Ray (ray/thirdparty_files, on sys.path once ray is imported)."""
    import ray  # noqa: F401

    return importlib.import_module("psutil")


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise RuntimeError("an SSH node needs root (PID/mount namespaces and port 22)")
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        raise RuntimeError(
            f"missing {', '.join(missing)}: install Debian's openssh-server and rsync "
            "(`make ssh-deps`)"
        )


def _sshd_config(root: Path, key: Path, address: str) -> str:
    loopback = address == _LOOPBACK  # the loopback switch: single-machine Ray only
    return "\n".join(
        [
            f"Port {SSH_PORT}",
            f"ListenAddress {address}",
            f"HostKey {root / 'host_key'}",
            f"AuthorizedKeysFile {key}.pub",
            f"PidFile {root / 'sshd.pid'}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            # offline installs: the setup's pip finds everything installed but the project,
            # which it builds with the venv's setuptools (pip reads this option inverted:
            # false turns build isolation off), so no package index is needed
            "SetEnv PIP_NO_INDEX=1 PIP_NO_BUILD_ISOLATION=false"
            + (" RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0" if loopback else ""),
            "",
        ]
    )


def _base_prefix(venv: Path) -> Path:
    """The installation the venv was made from (its pyvenv.cfg ``home`` is that bin/)."""
    for line in (venv / "pyvenv.cfg").read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return Path(value.strip()).resolve().parent
    raise RuntimeError(f"{venv}/pyvenv.cfg names no home")


def _namespace_script(
    root: Path, venv: Path, node_home: Path, host: Host | None, shared: Path | None
) -> str:
    """Mounts made inside the node's mount namespace, then sshd in the foreground."""
    home = root / "home"
    lines = [
        "set -e",
        # sshd's privilege separation directory, which only a booted system's service creates:
        # a private /run (root-owned, 0755 as sshd's chroot check wants), whatever the host has
        "mount -t tmpfs -o mode=0755 ntm-node-run /run",
        "mkdir -m 0755 /run/sshd",
        f"mount -t overlay overlay -o lowerdir={venv},upperdir={root}/upper,"
        f"workdir={root}/work {venv}",
    ]
    if host is not None:  # a host of its own name, which resolves to its LAN address
        lines += [f"hostname {host.hostname}", f"mount --bind {root}/hosts /etc/hosts"]
    if shared is not None:
        lines.append(f"mount --bind {shared} {home}/ntm-shared")
    base = _base_prefix(venv)
    if base.is_relative_to(node_home):  # e.g. pyenv's Python under /root: keep it visible
        (home / base.relative_to(node_home)).mkdir(parents=True)
        lines.append(f"mount --bind {base} {home / base.relative_to(node_home)}")
    lines += [
        f"mount --rbind {home} {node_home}",
        f"mount --bind {root}/ray-tmp /tmp/ray",
        f"exec {SSHD} -D -e -f {root}/sshd_config",
    ]
    return "\n".join(lines)


def make_key(path: Path) -> Path:
    """A new ed25519 key pair without passphrase: ``path`` and ``path.pub``."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def _prepare(
    root: Path,
    venv: Path,
    node_home: Path,
    venv_link: str,
    *,
    key: Path | None,
    host: Host | None,
    shared: Path | None,
) -> Path:
    make_key(root / "host_key")
    key = key or make_key(root / "id_ed25519")
    shutil.copytree("/etc/skel", root / "home", symlinks=True)
    (root / "home" / "ntm-shared").mkdir()  # the node's "shared directory" (NFS on a cluster)
    (root / "home" / venv_link).symlink_to(venv)  # the venv the setup commands look for
    for name in ("upper", "work", "ray-tmp"):
        (root / name).mkdir()
    Path("/tmp/ray").mkdir(exist_ok=True)  # mount point of the node's private /tmp/ray
    address = host.address if host else _LOOPBACK
    (root / "sshd_config").write_text(_sshd_config(root, key, address))
    if host is not None:
        (root / "hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.hostname}\n")
    (root / "node.sh").write_text(_namespace_script(root, venv, node_home, host, shared))
    return key


def _wait_for_sshd(proc: subprocess.Popen[bytes], log: Path, address: str) -> None:
    """Until sshd says it listens (it logs that once its socket is bound and listening)."""
    ready = f"Server listening on {address} port {SSH_PORT}"
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready in log.read_text():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text()[-500:]}")
        time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on {address}:{SSH_PORT}: {log.read_text()[-500:]}")


@contextlib.contextmanager
def ssh_node(
    venv: Path,
    *,
    venv_link: str,
    host: Host | None = None,
    shared: Path | None = None,
    key: Path | None = None,
) -> Iterator[SSHNode]:
    """A node (see the module docstring); ``~/VENV_LINK`` on it is the installed ``venv``.

    ``host``: the node is that host of a LAN (its network namespace, address and hostname);
    ``shared``: a directory bound as the node's ``~/ntm-shared``; ``key``: the private key to
    authorize (its ``.pub``; several nodes of one cluster share it), else one made for the node.
    """
    _require_tools()
    if host is None and port_in_use(SSH_PORT):
        raise RuntimeError(f"127.0.0.1:{SSH_PORT} is taken: another SSH server runs here")
    user = pwd.getpwuid(os.geteuid())
    node_home = Path(user.pw_dir)
    root = Path(tempfile.mkdtemp(prefix="ntm-node-", dir="/tmp"))
    proc = None
    try:
        key = _prepare(
            root, venv.resolve(), node_home, venv_link, key=key, host=host, shared=shared
        )
        log = root / "sshd.log"
        namespaces = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
        if host is not None:  # the host's network, and a hostname of its own
            namespaces = host.run([*namespaces, "--uts"])
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*namespaces, "sh", str(root / "node.sh")],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        address = host.address if host else _LOOPBACK
        _wait_for_sshd(proc, log, address)
        yield SSHNode(root, user.pw_name, key, root / "home", node_home, proc.pid, host)
    finally:
        if proc is not None:
            _kill_node(proc)
        shutil.rmtree(root, ignore_errors=True)


def _kill_node(proc: subprocess.Popen[bytes]) -> None:
    ps = psutil()
    try:
        members = ps.Process(proc.pid).children(recursive=True)
    except ps.NoSuchProcess:
        members = []
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)  # --kill-child: sshd, the namespace's init, dies too
    proc.wait(timeout=30)
    _, alive = ps.wait_procs(members, timeout=30)
    if alive:
        raise RuntimeError(f"node processes survived their namespace: {[p.pid for p in alive]}")


def node_listeners(node: SSHNode) -> dict[str, set[str]]:
    """Listening TCP/UDP sockets of every process of the node: {process name: {"ip:port"}}.

    psutil reads the sockets of the calling process's network: for a node on a LAN host, use
    ``tests.harness.lan.listeners`` (every listener of the host's namespace) instead.
    """
    if node.host is not None:
        raise ValueError(f"node on {node.host.netns}: sample it with tests.harness.lan.listeners")
    ps = psutil()
    found: dict[str, set[str]] = {}
    try:
        procs = ps.Process(node.pid).children(recursive=True)
    except ps.NoSuchProcess:
        return found
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == ps.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and conn.laddr):
                    found.setdefault(proc.name(), set()).add(f"{conn.laddr.ip}:{conn.laddr.port}")
        except ps.Error:
            continue
    return found
