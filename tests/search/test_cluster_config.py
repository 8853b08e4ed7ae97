"""cluster.yaml and cluster.local.yaml against Ray's own cluster-config schema, offline.

`ray up` runs Ray's ``prepare_config`` (defaults, node-type min/max) and ``validate_config``
(ray-schema.json plus cross-field rules) before it contacts the cloud; both run here without AWS
credentials. The rest checks the promises the files make in their comments: loopback-only
dashboard and MLflow, no extra inbound rule, torch installed first from its pin.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "cluster.yaml"
LOCAL = ROOT / "cluster.local.yaml"


def load(path: Path) -> dict[str, Any]:
    config = yaml.safe_load(path.read_text())
    assert isinstance(config, dict)
    return config


def ray_check(config: dict[str, Any]) -> dict[str, Any]:
    """What `ray up` does to a config file before it talks to a cloud provider."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.fixture(autouse=True)
def _no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # validation must not depend on (or find) AWS credentials
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.mark.parametrize("path", [AWS, LOCAL], ids=["aws", "local"])
def test_shipped_cluster_configs_pass_rays_validation(path: Path) -> None:
    prepared = ray_check(load(path))
    # ray fills in its defaults and keeps our head node type
    assert prepared["head_node_type"] in prepared["available_node_types"]
    # every command `ray up` would run is a string (YAML folding did not produce lists or None)
    for key in ("setup_commands", "head_setup_commands", "head_start_ray_commands"):
        assert prepared[key] and all(isinstance(cmd, str) for cmd in prepared[key])


def test_aws_config_declares_head_cpu_and_gpu_workers() -> None:
    prepared = ray_check(load(AWS))
    types = prepared["available_node_types"]
    head = types[prepared["head_node_type"]]
    workers = {name: t for name, t in types.items() if name != prepared["head_node_type"]}
    # trials never run on the head: it advertises no CPU
    assert head["resources"] == {"CPU": 0}
    # one CPU-only worker type that keeps a node up, one GPU worker type that scales from zero
    cpu = [t for t in workers.values() if t["resources"].get("GPU", 0) == 0]
    gpu = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    assert len(cpu) == 1 and cpu[0]["min_workers"] >= 1 and cpu[0]["resources"]["CPU"] > 0
    assert len(gpu) == 1 and gpu[0]["min_workers"] == 0 and gpu[0]["max_workers"] >= 1
    # autoscaling bounds are consistent with the global cap
    assert sum(t["max_workers"] for t in workers.values()) <= prepared["max_workers"]
    # the project is synced to every node
    assert "." in prepared["file_mounts"].values()


@pytest.mark.parametrize("path", [AWS, LOCAL], ids=["aws", "local"])
def test_nothing_but_ssh_is_exposed(path: Path) -> None:
    config = load(path)
    head_start = " ".join(config["head_start_ray_commands"])
    # the dashboard binds loopback (reached with `ray dashboard`), never 0.0.0.0
    assert "--dashboard-host=127.0.0.1" in head_start and "0.0.0.0" not in path.read_text()
    # MLflow serves on 127.0.0.1:5000 (reached with `ray attach -p 5000`), SQLite on the head
    assert re.search(r"mlflow server --host 127\.0\.0\.1 --port 5000", head_start)
    assert (
        "--backend-store-uri sqlite:///" in head_start and "--artifacts-destination" in head_start
    )
    # no extra inbound firewall rule: Ray's default group admits SSH and intra-cluster traffic only
    assert "IpPermissions" not in config.get("provider", {}).get("security_group", {})


@pytest.mark.parametrize("path", [AWS, LOCAL], ids=["aws", "local"])
def test_setup_installs_pinned_torch_first_then_the_project(path: Path) -> None:
    commands = load(path)["setup_commands"]
    torch_at = next(i for i, c in enumerate(commands) if "^torch==" in c)
    project_at = next(i for i, c in enumerate(commands) if "-c ~/ntm-search/constraints.txt" in c)
    # torch comes from its pin in constraints.txt (CPU wheel index), before the project install
    assert torch_at < project_at and "download.pytorch.org/whl/cpu" in commands[torch_at]
    # the pinned torch line the command greps for exists
    assert re.search(r"^torch==\S+$", (ROOT / "constraints.txt").read_text(), re.MULTILINE)


def _without_resources(config: dict[str, Any]) -> None:
    del config["available_node_types"]["cpu_worker"]["resources"]


def _unknown_head_type(config: dict[str, Any]) -> None:
    config["head_node_type"] = "no_such_type"


def _fractional_gpu(config: dict[str, Any]) -> None:
    config["available_node_types"]["gpu_worker"]["resources"]["GPU"] = 0.5


def _misspelled_key(config: dict[str, Any]) -> None:
    config["available_node_types"]["cpu_worker"]["min_worker"] = 1


def _min_over_global_max(config: dict[str, Any]) -> None:
    config["max_workers"] = 0


@pytest.mark.parametrize(
    "breakage",
    [
        _without_resources,
        _unknown_head_type,
        _fractional_gpu,
        _misspelled_key,
        _min_over_global_max,
    ],
)
def test_broken_aws_copy_is_rejected(breakage: Any) -> None:
    config = load(AWS)
    breakage(config)
    # Ray's schema or its cross-field rules reject the broken copy, as `ray up` would
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        ray_check(config)


def test_broken_local_copy_is_rejected() -> None:
    config = load(LOCAL)
    del config["provider"]["worker_ips"]
    # the local provider needs the listed worker IPs; Ray aborts without them
    with pytest.raises(click.ClickException):
        ray_check(config)
    config = load(LOCAL)
    config["provider"]["worker_ips"] = "192.168.1.11"
    # worker_ips must be a list in Ray's schema
    with pytest.raises(jsonschema.ValidationError):
        ray_check(config)


def test_aws_runs_the_commands_the_local_launch_test_runs() -> None:
    aws, local = load(AWS), load(LOCAL)
    # test_cluster_two_hosts.py runs cluster.local.yaml's commands through `ray up`; cluster.yaml
    # runs the same ones: start commands equal apart from the CHANGE: artifact destination,
    bucket = "s3://YOUR-BUCKET/ntm-search/mlflow-artifacts"
    local_start = [
        c.replace("/mnt/ntm-shared/mlflow-artifacts", bucket)
        for c in local["head_start_ray_commands"]
    ]
    assert aws["head_start_ray_commands"] == local_start
    assert aws["worker_start_ray_commands"] == local["worker_start_ray_commands"]
    # the installs equal (locally after making the venv; the Docker image has Python on AWS),
    assert aws["setup_commands"] == local["setup_commands"][2:]
    # and the head setup equal after boto3 (S3 artifacts)
    assert aws["head_setup_commands"][1:] == local["head_setup_commands"]
    assert "boto3" in aws["head_setup_commands"][0]
    assert aws["file_mounts"] == local["file_mounts"]
    assert aws["rsync_exclude"] == local["rsync_exclude"]


@pytest.mark.parametrize("path", [AWS, LOCAL], ids=["aws", "local"])
def test_mlflow_on_the_head_is_one_process_group_restarted_whole(path: Path) -> None:
    start = load(path)["head_start_ray_commands"]
    server = next(c for c in start if "mlflow server" in c)
    # started as its own session (setsid) with its pid saved, one worker (SQLite has one writer)
    assert "setsid nohup" in server and "echo $! > ~/mlflow/server.pid" in server
    assert "--workers 1" in server
    # a restart (`ray up` again) stops the whole old group first, so port 5000 is free
    stop = start[start.index(server) - 1]
    assert 'kill -- "-$(cat ~/mlflow/server.pid)"' in stop


@pytest.mark.parametrize("path", [AWS, LOCAL], ids=["aws", "local"])
def test_the_head_runs_the_v1_autoscaler(path: Path) -> None:
    start = next(c for c in load(path)["head_start_ray_commands"] if "ray start --head" in c)
    # `ray up` exports RAY_enable_autoscaler_v2=1 before each head start command; Ray 2.60's v2
    # never starts the last worker of the local provider (test_cluster_two_hosts.py), so the
    # head's `ray start` turns it off for its own environment
    assert "RAY_enable_autoscaler_v2=0 ray start --head" in start
