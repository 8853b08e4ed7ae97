"""`ray up` of cluster.local.yaml for real, on this machine: Ray's cluster launcher end to end.

benchmarks/cluster_up.py makes this machine a one-node cluster (sshd on 127.0.0.1:22 in its own
PID and mount namespaces), derives the config from cluster.local.yaml by changing only its
CHANGE: values, and runs the README's commands: `ray up`, the smoke search with `ray exec ...
--address auto`, MLflow read back over REST, export, `ray rsync-down`, MLflow stop, `ray down`.
One launch (~2-3 minutes on 2 cores) serves every test of this module; it needs root.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import ntm
from benchmarks.cluster_launch import LOCAL_CONFIG, Launch, launched
from benchmarks.cluster_up import Outcome, experiment_dir, run_cluster
from benchmarks.derive_config import covered_by_change, derive_config, node_changes
from benchmarks.ssh_node import SSH_PORT, SSHNode, port_in_use
from ntm.cli import UsageError
from search.export import from_ray, select
from tests.search.mlflow_helpers import tags_of

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


# These three run first: the module's one launch stays up until its last test.


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


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Launch, Outcome]]:
    with launched(Path(sys.prefix)) as launch:
        yield launch, run_cluster(launch)
    # everything the launch started is gone: sshd's port is free again
    assert not port_in_use(SSH_PORT)


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def test_every_listener_of_the_launched_cluster_is_loopback(
    cluster: tuple[Launch, Outcome],
) -> None:
    _, outcome = cluster
    everything = {a for addresses in outcome.listeners.values() for a in addresses}
    # sampled while up: sshd, Ray's GCS and the MLflow server really listened
    assert f"127.0.0.1:{SSH_PORT}" in outcome.listeners["sshd"]
    assert any(a.endswith(":6379") for a in outcome.listeners["gcs_server"])
    assert any(a.endswith("127.0.0.1:5000") for a in everything)
    # rule: nothing of the cluster listens on a non-loopback address
    exposed = {n: a for n, a in outcome.listeners.items() if not all(map(_loopback, a))}
    assert not exposed


def test_the_search_is_tracked_on_the_heads_mlflow_server(cluster: tuple[Launch, Outcome]) -> None:
    launch, outcome = cluster
    parents = [r for r in outcome.runs if tags_of(r).get("ntm.role") == "search"]
    children = [r for r in outcome.runs if tags_of(r).get("ntm.role") == "trial"]
    # one parent run for the search, one child per trial Ray ran, nothing else
    assert len(parents) == 1 and len(children) + 1 == len(outcome.runs)
    parent_id = parents[0]["info"]["run_id"]
    assert all(tags_of(r)["mlflow.parentRunId"] == parent_id for r in children)
    assert sorted(tags_of(r)["trial_id"] for r in children) == sorted(outcome.trial_ids)
    assert len(outcome.trial_ids) >= 2  # the smoke search's trials, not an empty experiment
    # the results table the driver wrote lists the same trials
    table = (experiment_dir(launch) / "results.csv").read_text().splitlines()
    assert len(table) - 1 == len(outcome.trial_ids)


def test_the_best_trial_is_exported_and_fetched(cluster: tuple[Launch, Outcome]) -> None:
    launch, outcome = cluster
    metrics = json.loads((outcome.exported / "metrics.json").read_text())
    # the trial exported on the head is the one the project's rule picks from the same results
    best = select(from_ray(experiment_dir(launch)), metric=None, mode="min")
    assert metrics["trial_id"] == best.trial_id
    # the fetched export loads (weights_only) and runs its task as the README shows
    model, task, _ = ntm.load(outcome.exported)
    batch = task.sample_exact(4, 3, torch.Generator().manual_seed(0))
    logits = model.forward_sequence(batch.inputs)[0]
    assert logits.shape[:2] == batch.inputs.shape[:2] and torch.isfinite(logits).all()


def test_ray_down_leaves_nothing_running(cluster: tuple[Launch, Outcome]) -> None:
    _, outcome = cluster
    # after the README's MLflow stop and `ray down -y`, only sshd is left on the node
    assert outcome.left_running == []
    # every step took real time and finished (the timings RESULTS.md records)
    assert set(outcome.seconds) >= {"ray_up", "search", "export", "ray_down"}
