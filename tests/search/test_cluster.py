"""search/cluster.py without a cluster: what counts as shared storage and as multi-node.

The multi-node refusal itself runs against a real 3-node cluster in test_multinode.py.
"""

from __future__ import annotations

import pytest

from search.cluster.nodes import NodeInfo, is_multinode
from search.cluster.storage import SHARED_STORAGE_ENV, is_remote_uri, require_shared_storage
from tests.harness.local_cluster import local_cluster

HEAD = NodeInfo(node_id="h", ip="10.0.0.1", cpus=0.0, gpus=0.0)
WORKER = NodeInfo(node_id="w", ip="10.0.0.2", cpus=8.0, gpus=0.0)
LAPTOP = NodeInfo(node_id="l", ip="127.0.0.1", cpus=2.0, gpus=0.0)


@pytest.mark.parametrize(
    ("path", "remote"),
    [
        ("s3://bucket/ntm-search", True),
        ("gs://bucket/x", True),
        ("abfss://container@account.dfs.core.windows.net/x", True),
        ("file:///mnt/nfs/ray", False),
        ("/home/me/ray_results", False),
        ("./ray_results", False),
        ("s3:/missing-slash", False),
    ],
)
def test_remote_uris_are_shared_and_paths_are_local(path: str, remote: bool) -> None:
    # only scheme:// URIs other than file:// count as shared storage by themselves
    assert is_remote_uri(path) is remote


def test_what_counts_as_a_multinode_cluster() -> None:
    # one machine with CPUs: local storage is fine
    assert not is_multinode([LAPTOP])
    # head and worker: multi-node
    assert is_multinode([HEAD, WORKER])
    # a CPU-less head alone: its trials can only run on workers about to join
    assert is_multinode([HEAD])
    # not connected to Ray at all: nothing to check
    assert not is_multinode([])


def test_without_ray_nothing_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SHARED_STORAGE_ENV, raising=False)
    # Ray not initialised (a local search decides its own storage): no error, no Ray started
    require_shared_storage("/tmp/ray_results")
    import ray

    assert not ray.is_initialized()


def test_local_cluster_rejects_bad_sizes() -> None:
    # sizes are checked before any Ray process starts, naming the argument
    with pytest.raises(ValueError, match="workers must be >= 1"):
        with local_cluster(0):
            pass
    with pytest.raises(ValueError, match="cpus_per_worker must be >= 1"):
        with local_cluster(1, cpus_per_worker=0):
            pass
