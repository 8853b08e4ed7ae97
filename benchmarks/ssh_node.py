"""This machine as a cluster node for Ray's `local` provider: sshd on 127.0.0.1:22, isolated.

:func:`ssh_node` starts an OpenSSH server (Debian's ``openssh-server``) that listens on
127.0.0.1 port 22 only (the one port Ray's local provider connects to), accepts one key made for
the run in a temporary directory, and runs in its own PID and mount namespaces, so that the node
behaves like a separate machine without touching this one:

- its own process table: the ``ray stop`` of ``ray up``/``ray down`` and ``--address auto`` see
  only the node's processes, never another Ray running here;
- its own home: a fresh directory (from /etc/skel) bind-mounted over the SSH user's home, with
  ``~/VENV_LINK`` a link to ``venv``; the base interpreter of ``venv`` is bound into it when it
  lives under that home (pyenv);
- its own /run (a tmpfs holding sshd's privilege separation directory ``/run/sshd``, which
  nothing creates on a machine whose sshd service never ran);
- ``venv`` (an installed project venv) under a copy-on-write overlay, so the node's setup
  commands install into it without changing it, and a private /tmp/ray;
- the environment ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` in every session (sshd ``SetEnv``):
  Ray's loopback switch, the one the local default uses, so Ray on the node binds 127.0.0.1.

It shares this machine's network, so its listeners are real and can be sampled
(:func:`node_listeners`). On exit one SIGKILL to the namespace's parent, by pid, ends every
process of the node (the kernel kills a PID namespace with its init), and the directory goes.
Needs root, ``unshare`` and ``mount`` (util-linux), ``sshd``, ``ssh-keygen`` and ``rsync``.
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

__all__ = ["SSH_PORT", "SSHNode", "node_listeners", "port_in_use", "psutil", "ssh_node"]

SSH_PORT = 22  # Ray's local provider has no port setting
SSHD = "/usr/sbin/sshd"
_TOOLS = (SSHD, "ssh", "ssh-keygen", "rsync", "unshare", "mount")
_START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class SSHNode:
    """A running node: its directory, SSH user and key, home (outside view) and parent pid."""

    root: Path
    user: str
    key: Path
    home: Path  # the node's home directory, as this machine sees it
    node_home: Path  # the same directory as the node's sessions see it (the user's home)
    pid: int  # the `unshare` process: SIGKILL to it ends every process of the node


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


def _sshd_config(root: Path, key: Path) -> str:
    return "\n".join(
        [
            f"Port {SSH_PORT}",
            "ListenAddress 127.0.0.1",
            f"HostKey {root / 'host_key'}",
            f"AuthorizedKeysFile {key}.pub",
            f"PidFile {root / 'sshd.pid'}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "SetEnv RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0",
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


def _namespace_script(root: Path, venv: Path, node_home: Path) -> str:
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


def _prepare(root: Path, venv: Path, node_home: Path, venv_link: str) -> Path:
    key = root / "id_ed25519"
    for name in ("host_key", key.name):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True
        )
    shutil.copytree("/etc/skel", root / "home", symlinks=True)
    (root / "home" / "ntm-shared").mkdir()  # the node's "shared directory" (NFS on a cluster)
    (root / "home" / venv_link).symlink_to(venv)  # the venv the setup commands look for
    for name in ("upper", "work", "ray-tmp"):
        (root / name).mkdir()
    Path("/tmp/ray").mkdir(exist_ok=True)  # mount point of the node's private /tmp/ray
    (root / "sshd_config").write_text(_sshd_config(root, key))
    (root / "node.sh").write_text(_namespace_script(root, venv, node_home))
    return key


def _wait_for_sshd(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text()[-500:]}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", SSH_PORT), 1) as s,
        ):
            if s.recv(4).startswith(b"SSH-"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"sshd did not answer on 127.0.0.1:{SSH_PORT}: {log.read_text()[-500:]}")


@contextlib.contextmanager
def ssh_node(venv: Path, *, venv_link: str) -> Iterator[SSHNode]:
    """A node (see the module docstring); ``~/VENV_LINK`` on it is the installed ``venv``."""
    _require_tools()
    if port_in_use(SSH_PORT):
        raise RuntimeError(f"127.0.0.1:{SSH_PORT} is taken: another SSH server runs here")
    user = pwd.getpwuid(os.geteuid())
    node_home = Path(user.pw_dir)
    root = Path(tempfile.mkdtemp(prefix="ntm-node-", dir="/tmp"))
    proc = None
    try:
        key = _prepare(root, venv.resolve(), node_home, venv_link)
        log = root / "sshd.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
                + ["sh", str(root / "node.sh")],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for_sshd(proc, log)
        yield SSHNode(root, user.pw_name, key, root / "home", node_home, proc.pid)
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
    """Listening TCP/UDP sockets of every process of the node: {process name: {"ip:port"}}."""
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
