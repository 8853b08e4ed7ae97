"""search/cluster/check.py: placeholders marked CHANGE: refused, a cluster to join required."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ntm.cli import UsageError
from search.cluster.check import PLACEHOLDERS, check_config, require_cluster, unchanged_values

ROOT = Path(__file__).resolve().parents[2]


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "search.cluster.check", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("cluster.local.yaml", ["provider.head_ip", "provider.worker_ips[1]"]),
        ("cluster.yaml", ["available_node_types.head.node_config.ImageId", "YOUR-BUCKET"]),
    ],
)
def test_shipped_configs_are_refused_until_edited(name: str, fields: list[str]) -> None:
    done = run_check(name)
    # one line naming the unchanged fields, exit code 2, no traceback
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    for field in fields:
        assert field in done.stderr


def test_an_edited_config_passes(tmp_path: Path) -> None:
    text = (ROOT / "cluster.local.yaml").read_text()
    edited = text.replace("192.0.2.10", "10.1.0.10").replace("192.0.2.11", "10.1.0.11")
    path = tmp_path / "mine.yaml"
    path.write_text(edited.replace("192.0.2.12", "10.1.0.12"))
    # every placeholder replaced: accepted, and the config comes back parsed
    assert check_config(path)["provider"]["head_ip"] == "10.1.0.10"
    assert run_check(str(path)).returncode == 0


def test_placeholders_are_found_in_values_not_comments() -> None:
    config = yaml.safe_load("# 192.0.2.10 in a comment\nprovider: {type: local}\n")
    # known answers: nested dicts and lists are walked, comments are never read
    assert unchanged_values(config) == []
    nested = {"a": [{"b": "s3://YOUR-BUCKET/x"}, "ok"], "c": 123456789012}
    assert unchanged_values(nested) == [("a[0].b", "s3://YOUR-BUCKET/x"), ("c", "123456789012")]
    assert all(isinstance(p, str) and p for p in PLACEHOLDERS)


@pytest.mark.parametrize(
    ("text", "message"),
    [("provider: [unclosed", "cannot read cluster config"), ("- a list\n", "not a Ray cluster")],
)
def test_unreadable_configs_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        check_config(path)
    with pytest.raises(UsageError, match="cannot read cluster config"):
        check_config(tmp_path / "missing.yaml")


def test_an_address_nothing_answers_on_is_refused() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UsageError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        require_cluster(f"127.0.0.1:{port}")
    # a listening port passes the check
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        require_cluster(f"127.0.0.1:{s.getsockname()[1]}")
