"""A test cluster config derived from a shipped one by changing only its ``CHANGE:`` values.

:func:`derive_config` replaces literal values and refuses any that no ``CHANGE`` comment marks
(:func:`covered_by_change`), so the config `ray up` runs in tests/search/test_cluster_up.py,
tests/search/test_cluster_two_hosts.py, tests/harness/cluster_two_hosts.py and
tests/harness/cluster_up.py is cluster.local.yaml itself apart from what a user must edit.
"""

from __future__ import annotations

import re

from tests.harness.ssh_node import SSHNode

__all__ = ["covered_by_change", "derive_config", "node_changes"]

_ENTRY = re.compile(r"(- |[\w.-]+:(\s|$))")  # a list item or a mapping key


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def covered_by_change(lines: list[str], index: int, value: str) -> bool:
    """True if ``value`` on line ``index`` is one that a ``CHANGE`` comment marks.

    A ``key: value`` or list-item line is marked by a comment on it or in the block of comment
    lines right above it. A continuation line of a folded command is marked only if the
    comment block above its command names ``value`` itself: the rest of the command is not.
    """
    entry = index
    if not _ENTRY.match(lines[index].lstrip()):
        while entry > 0 and (
            not lines[entry].strip() or _indent(lines[entry]) >= _indent(lines[index])
        ):
            entry -= 1
    block = [lines[entry]] if "# CHANGE" in lines[entry] else []
    above = entry - 1
    while above >= 0 and lines[above].lstrip().startswith("#"):
        block.append(lines[above])
        above -= 1
    text = " ".join(block)
    return "CHANGE" in text and (entry == index or value in text)


def derive_config(text: str, changes: dict[str, str]) -> str:
    """``text`` with each old value replaced, if every line holding one is marked CHANGE."""
    lines = text.splitlines()
    for old in changes:
        held = [
            i for i, line in enumerate(lines) if old in line and not line.lstrip().startswith("#")
        ]
        if not held:
            raise ValueError(f"{old!r} does not occur in the config")
        bad = [i + 1 for i in held if not covered_by_change(lines, i, old)]
        if bad:
            raise ValueError(f"{old!r} is not a CHANGE: value (line(s) {bad})")
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def node_changes(node: SSHNode, cluster_name: str) -> dict[str, str]:
    """The CHANGE: values of cluster.local.yaml for a one-node cluster on ``node``."""
    return {
        "ntm-search-local": cluster_name,
        "head_ip: 192.0.2.10": "head_ip: 127.0.0.1",
        "[192.0.2.11, 192.0.2.12]": "[]",
        "ssh_user: ubuntu": f"ssh_user: {node.user}",
        "~/.ssh/id_ed25519": str(node.key),
        "/mnt/ntm-shared": str(node.node_home / "ntm-shared"),
    }
