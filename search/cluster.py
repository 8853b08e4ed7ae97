"""Ray cluster helpers: which nodes are alive, and a shared-storage check for multi-node searches.

On a multi-node cluster each trial writes its checkpoints from the node it runs on, and a trial
restored after a node loss resumes on another node: Ray's ``storage_path`` must therefore be
readable and writable by every node. :func:`require_shared_storage` enforces that rule.

The rule, written down:

- A URI with a remote scheme (``s3://``, ``gs://``, ``abfss://``, ``hdfs://``, ...; anything with
  ``scheme://`` other than ``file://``) is shared.
- A plain path or a ``file://`` URI is local, unless the caller declares it shared: keyword
  ``shared=True`` (``search/run.py --shared-storage``) or the environment variable
  ``NTM_SHARED_STORAGE=1``. Use that for a directory mounted at the same path on every node (NFS);
  Ray cannot tell an NFS mount from a local disk, so the declaration is explicit.
- A local path is refused when Ray is connected to a multi-node cluster: more than one alive node,
  or a single alive node that advertises no CPU (a head like cluster.yaml's, whose trials can only
  run on workers that are about to join). Without Ray initialised, or on one node, nothing is
  checked.

Example::

    >>> import ray
    >>> ray.init(address="auto")  # doctest: +SKIP
    >>> require_shared_storage("s3://my-bucket/ntm-search/ray-results")  # passes
    >>> require_shared_storage("/home/me/ray_results")  # doctest: +SKIP
    Traceback (most recent call last):
    ntm.cli.UsageError: --storage-path '/home/me/ray_results' is local to one machine, ...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ntm.cli import UsageError

if TYPE_CHECKING:
    from ray.cluster_utils import Cluster

__all__ = [
    "SHARED_STORAGE_ENV",
    "NodeInfo",
    "alive_nodes",
    "is_multinode",
    "is_remote_uri",
    "local_cluster",
    "require_shared_storage",
]

SHARED_STORAGE_ENV = "NTM_SHARED_STORAGE"
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class NodeInfo:
    """One alive Ray node: its id, IP address and advertised CPUs and GPUs."""

    node_id: str
    ip: str
    cpus: float
    gpus: float


def alive_nodes() -> list[NodeInfo]:
    """The alive nodes of the cluster Ray is connected to (empty when Ray is not initialised)."""
    import ray

    if not ray.is_initialized():
        return []
    return [
        NodeInfo(
            node_id=str(node["NodeID"]),
            ip=str(node["NodeManagerAddress"]),
            cpus=float(node["Resources"].get("CPU", 0.0)),
            gpus=float(node["Resources"].get("GPU", 0.0)),
        )
        for node in ray.nodes()
        if node["Alive"]
    ]


def is_multinode(nodes: list[NodeInfo] | None = None) -> bool:
    """True for more than one alive node, or for one node without CPUs (workers will join)."""
    nodes = alive_nodes() if nodes is None else nodes
    return len(nodes) > 1 or (len(nodes) == 1 and nodes[0].cpus == 0)


def is_remote_uri(storage_path: str) -> bool:
    """True for ``scheme://...`` with any scheme but ``file`` (``s3://b/p``, ``gs://b/p``)."""
    scheme = urlparse(storage_path).scheme
    return "://" in storage_path and bool(scheme) and scheme.lower() != "file"


def _declared_shared(shared: bool) -> bool:
    return shared or os.environ.get(SHARED_STORAGE_ENV, "").strip().lower() in _TRUE


def require_shared_storage(storage_path: str, *, shared: bool = False) -> None:
    """Raise UsageError when a multi-node cluster would checkpoint to one machine's disk.

    ``storage_path`` is Ray Tune's ``storage_path``; ``shared=True`` (or NTM_SHARED_STORAGE=1)
    declares a plain or ``file://`` path to be a mount every node shares, such as NFS.
    Call it after ``ray.init``; see the module docstring for the full rule.
    """
    if is_remote_uri(storage_path) or _declared_shared(shared):
        return
    nodes = alive_nodes()
    if not is_multinode(nodes):
        return
    raise UsageError(
        f"--storage-path {storage_path!r} is local to one machine, but Ray is connected to a "
        f"cluster of {len(nodes)} alive node(s) whose trials checkpoint and resume on different "
        "machines; use shared storage (s3://BUCKET/PATH, gs://BUCKET/PATH) or, for a directory "
        f"mounted on every node (NFS), add --shared-storage or set {SHARED_STORAGE_ENV}=1."
    )


@contextlib.contextmanager
def local_cluster(
    workers: int, *, cpus_per_worker: int = 1, connect: bool = True
) -> Iterator[Cluster]:
    """A multi-node Ray cluster on this machine (``ray.cluster_utils``), torn down on exit.

    One head that advertises no CPU (like cluster.yaml's, so trials run on workers only) and
    ``workers`` worker nodes of ``cpus_per_worker`` CPUs, every server on 127.0.0.1. Used by the
    multi-node tests and ``benchmarks/scaling.py``; ``cluster.address`` is what ``--address``
    takes. With ``connect`` this process joins it as the driver (``ray.init(address=...)``).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, but got {workers=}.")
    if cpus_per_worker < 1:
        raise ValueError(f"cpus_per_worker must be >= 1, but got {cpus_per_worker=}.")
    # Must be set before the first Ray process starts: keeps every listener on 127.0.0.1 and lets
    # several nodes share one machine (Ray 2.60; _node_ip_address alone is not enough).
    os.environ[LOOPBACK_ENV] = "0"
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        connect=False,
        head_node_args={"num_cpus": 0, "include_dashboard": False},
    )
    try:
        for _ in range(workers):
            cluster.add_node(num_cpus=cpus_per_worker, wait=False)
        cluster.wait_for_nodes()
        if connect:
            ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        yield cluster
    finally:
        if connect:
            ray.shutdown()
        cluster.shutdown()
