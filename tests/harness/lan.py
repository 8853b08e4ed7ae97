"""A private LAN on this machine: network namespaces joined by a bridge, removed by name on exit.

:func:`lan` creates one network namespace per host (``ntm-TAG-ROLE``, e.g. ``ntm-4242-head``)
and a switch namespace (``ntm-TAG-lan``) holding a bridge; each host is joined to the bridge by a
veth pair whose host end is ``eth0`` with the address ``10.77.0.N/24`` (N = 1, 2, ... in the
order given), and has its loopback up. There is no default route and no link to this machine's
own (root) namespace, which gets no address and no route: traffic between the hosts stays on
the bridge, and nothing a host sends can leave it. ``ip netns exec NAME ...``
(:meth:`Host.run`) runs a command on a host's network.

On exit every namespace is deleted by name (their links go with them). The caller ends the
processes it started in them first (a namespace outlives its name while a process runs in it):
any process still found in one is killed by pid, and :func:`lan` then raises instead of
returning normally. Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SUBNET", "Host", "Listener", "lan", "listeners", "namespace_pids"]

SUBNET = ipaddress.ip_network("10.77.0.0/24")
_NETNS_DIR = Path("/run/netns")
_PROCESS = re.compile(r'\("([^"]+)",pid=(\d+)')  # ss -p: users:(("name",pid=N,fd=M),...)


@dataclass(frozen=True)
class Host:
    """One host of the LAN: its network namespace, address and hostname."""

    role: str
    netns: str  # the network namespace's name (`ip netns list`)
    address: str  # its eth0 address in SUBNET
    hostname: str

    def run(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run on this host's network (`ip netns exec`)."""
        return ["ip", "netns", "exec", self.netns, *argv]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def namespace_pids(netns: str) -> list[int]:
    """Pids of the processes whose network namespace is ``netns`` (none once it is empty)."""
    done = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


@dataclass(frozen=True)
class Listener:
    """A listening TCP or bound UDP socket: its process, pid and local ``ip:port`` (``*``: any
    address)."""

    process: str
    pid: int
    address: str

    @property
    def ip(self) -> str:
        return self.address.rsplit(":", 1)[0]


def listeners(netns: str | None) -> list[Listener]:
    """Every listening TCP and bound UDP socket of a network namespace (None: this machine's
    own), from ``ss``."""
    argv = ["ss", "-H", "-l", "-n", "-p", "-t", "-u"]
    done = subprocess.run(
        ["ip", "netns", "exec", netns, *argv] if netns else argv,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    found = []
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        address = fields[4].replace("[", "").replace("]", "")
        owners = _PROCESS.findall(line) or [("?", "0")]
        found += [Listener(name, int(pid), address) for name, pid in owners]
    return found


def _add_host(switch: str, host: Host, index: int) -> None:
    _ip("netns", "add", host.netns)
    port = f"p{index}"  # the bridge's end, in the switch namespace
    _ip(
        "-n",
        switch,
        "link",
        "add",
        port,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        host.netns,
    )
    _ip("-n", switch, "link", "set", port, "master", "br0", "up")
    _ip("-n", host.netns, "addr", "add", f"{host.address}/{SUBNET.prefixlen}", "dev", "eth0")
    _ip("-n", host.netns, "link", "set", "eth0", "up")
    _ip("-n", host.netns, "link", "set", "lo", "up")


@contextlib.contextmanager
def lan(roles: Sequence[str], *, tag: str | None = None) -> Iterator[dict[str, Host]]:
    """Hosts ``roles`` on a fresh LAN (see the module docstring): {role: Host}."""
    if os.geteuid() != 0:
        raise RuntimeError("a LAN of network namespaces needs root")
    if len(set(roles)) != len(roles) or not roles:
        raise ValueError(f"roles must be distinct and not empty, but got {roles=}.")
    tag = tag or str(os.getpid())
    switch = f"ntm-{tag}-lan"
    hosts = {
        role: Host(role, f"ntm-{tag}-{role}", str(SUBNET[i + 1]), f"ntm-{tag}-{role}")
        for i, role in enumerate(roles)
    }
    taken = [n for n in [switch, *(h.netns for h in hosts.values())] if (_NETNS_DIR / n).exists()]
    if taken:
        raise RuntimeError(f"network namespace(s) {taken} exist already")
    created: list[str] = []
    try:
        _ip("netns", "add", switch)
        created.append(switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, host in enumerate(hosts.values()):
            created.append(host.netns)
            _add_host(switch, host, i)
        yield hosts
    finally:
        leftover = _remove(created)
    if leftover:
        raise RuntimeError(f"processes still ran in the LAN's namespaces (now killed): {leftover}")


def _remove(names: list[str]) -> dict[str, list[int]]:
    """Delete the namespaces ``names``; SIGKILL, by pid, any process still in one first."""
    leftover = {}
    for name in reversed(names):
        if not (_NETNS_DIR / name).exists():
            continue
        pids = namespace_pids(name)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if pids:
            leftover[name] = pids
            _wait_gone(name)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    return leftover


def _wait_gone(netns: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while namespace_pids(netns) and time.monotonic() < deadline:
        time.sleep(0.1)
