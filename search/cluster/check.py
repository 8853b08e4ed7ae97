"""Checks before Ray is called: a cluster config's CHANGE: values, and a cluster to join.

``python -m search.cluster.check CONFIG`` (before ``ray up CONFIG``) refuses a cluster config
that still holds one of the placeholders the shipped ``cluster.yaml`` and ``cluster.local.yaml``
mark ``CHANGE:``; :func:`require_cluster` refuses ``--address auto`` when no Ray cluster runs.
Both fail with :class:`ntm.cli.UsageError`: one line, exit code 2, nothing started or written.

The placeholders, written down (:data:`PLACEHOLDERS`): values no real cluster can have, so a
config that still holds one was not edited. IPs from 192.0.2.0/24 (TEST-NET-1, RFC 5737, never
assigned to a machine), the AMI ``ami-0123456789abcdef0``, the AWS account ``123456789012`` and
the bucket ``YOUR-BUCKET``. Values marked ``CHANGE (optional)`` or ``CHANGE:`` whose default
can be right (SSH user, region, shared directory) are not checked. Only YAML values are read,
never comments.

Example::

    >>> unchanged_values({"provider": {"head_ip": "192.0.2.10"}, "auth": {"ssh_user": "me"}})
    [('provider.head_ip', '192.0.2.10')]
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

from ntm.cli import Parser, UsageError, guarded

__all__ = ["PLACEHOLDERS", "check_config", "main", "require_cluster", "unchanged_values"]

PROG = "python -m search.cluster.check"
PLACEHOLDERS = ("192.0.2.", "ami-0123456789abcdef0", "123456789012", "YOUR-BUCKET")
_CONNECT_TIMEOUT_S = 3.0  # a GCS that does not answer within this is not running


def unchanged_values(config: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (dotted field path, value) of ``config`` that still holds a placeholder."""
    if isinstance(config, dict):
        items: list[tuple[str, Any]] = [
            (f"{path}.{k}" if path else str(k), v) for k, v in config.items()
        ]
    elif isinstance(config, list):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(config)]
    else:
        text = str(config)
        return [(path, text)] if any(p in text for p in PLACEHOLDERS) else []
    return [found for key, value in items for found in unchanged_values(value, key)]


def check_config(path: Path) -> dict[str, Any]:
    """The cluster config at ``path``; UsageError if unreadable or a CHANGE: value is unchanged."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot read cluster config {str(path)!r}: {reason}") from None
    if not isinstance(config, dict) or "provider" not in config:
        raise UsageError(f"{str(path)!r} is not a Ray cluster config (no 'provider' mapping)")
    found = unchanged_values(config)
    if found:
        fields = ", ".join(key for key, _ in found)
        held = ", ".join(sorted({p for _, value in found for p in PLACEHOLDERS if p in value}))
        raise UsageError(
            f"{path}: {len(found)} value(s) marked CHANGE: still hold a placeholder ({held}): "
            f"{fields}; edit them before `ray up {path}`"
        )
    return config


def require_cluster(address: str) -> None:
    """UsageError unless ``address`` (``auto`` or ``host:port``) names a running Ray cluster.

    ``auto`` is looked up as ``ray.init`` looks it up (RAY_ADDRESS, the last ``ray start`` on
    this machine, a running GCS process); the address found, or a given ``host:port``, must
    accept a TCP connection. ``ray://`` client addresses and ``local`` are left to Ray.
    """
    if address.startswith("ray://") or address == "local":
        return
    from ray._private.services import get_ray_address_from_environment

    try:
        found = get_ray_address_from_environment(address, None)
    except ConnectionError:
        raise UsageError(
            f"--address {address}: no running Ray cluster found on this machine; start one "
            "(`ray up CONFIG`, then run the search on its head with `ray exec CONFIG ...`) "
            "or leave --address out for a local search"
        ) from None
    host, _, port = str(found).rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError):
        raise UsageError(
            f"--address {address}: no Ray cluster answers at {found}; check the address "
            "or start the cluster first"
        ) from None


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", type=Path, help="cluster config to check (cluster.yaml, ...)")
    args = p.parse_args(argv)
    check_config(args.config)
    print(f"{args.config}: every checked CHANGE: value has been edited")
    return 0


if __name__ == "__main__":
    sys.exit(guarded(PROG, main))
