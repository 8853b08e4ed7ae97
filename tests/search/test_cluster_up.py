"""What comes before `ray up`: the config derived from cluster.local.yaml, the placeholder check,
and `--address auto` without a cluster. Needs root (an SSH node on 127.0.0.1:22).

The launch itself (`ray up`, a search on two hosts, export, `ray down`) is
tests/search/test_cluster_two_hosts.py; tests/harness/cluster_up.py times the same commands on a
one-node cluster on this machine's loopback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ntm.cli import UsageError
from tests.harness.cluster_launch import LOCAL_CONFIG, launched
from tests.harness.derive_config import covered_by_change, derive_config, node_changes
from tests.harness.ssh_node import SSH_PORT, SSHNode, port_in_use

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_derived_config_changes_only_change_values() -> None:
    text = LOCAL_CONFIG.read_text()
    lines = text.splitlines()
    # values CHANGE: comments mark may be replaced, including inside the MLflow command
    assert covered_by_change(lines, _line(lines, "head_ip:"), "192.0.2.10")
    assert covered_by_change(lines, _line(lines, "--artifacts-destination"), "/mnt/ntm-shared")
    # any other part of a command may not
    with pytest.raises(ValueError, match="not a CHANGE: value"):
        derive_config(text, {"--workers 1": "--workers 4"})
    with pytest.raises(ValueError, match="not a CHANGE: value"):
        derive_config(text, {"ray stop": "true"})
    with pytest.raises(ValueError, match="does not occur"):
        derive_config(text, {"no-such-value": "x"})


def _line(lines: list[str], start: str) -> int:
    return next(i for i, line in enumerate(lines) if line.strip().startswith(start))


def test_a_placeholder_left_in_the_config_stops_before_ray_up() -> None:
    def head_ip_unchanged(node: SSHNode, name: str) -> dict[str, str]:
        changes = node_changes(node, name)
        del changes["head_ip: 192.0.2.10"]
        return changes

    # the check refuses the config before any `ray` command, naming the field
    with pytest.raises(UsageError, match=r"provider\.head_ip"):
        with launched(Path(sys.prefix), changes=head_ip_unchanged):
            pytest.fail("the config was accepted")
    # and the node it had started is gone again
    assert not port_in_use(SSH_PORT)


def test_address_auto_without_a_cluster_is_a_usage_error(tmp_path: Path) -> None:
    # a fresh PID namespace with an empty /tmp/ray: no Ray cluster runs in it, whatever else
    # runs on this machine
    script = (
        "mount -t tmpfs tmpfs /tmp/ray && exec "
        f"{sys.executable} {ROOT / 'search' / 'run.py'} --address auto --smoke-test "
        f"--storage-path {tmp_path / 'results'}"
    )
    argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script]
    Path("/tmp/ray").mkdir(exist_ok=True)
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    # one line, exit code 2, nothing written (no results directory, no mlflow.db)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().count("\n") == 0
    assert "--address auto: no running Ray cluster" in done.stderr
    assert list(tmp_path.iterdir()) == []
