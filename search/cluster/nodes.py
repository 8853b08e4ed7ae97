"""The Ray cluster a search runs on: starting local Ray or joining one, its alive nodes,
whether a trial fits on one node, and a multi-node cluster on this machine for tests.

Ray is started on 127.0.0.1 with all CPUs and no dashboard (``init_ray``), after
``search.cluster.env`` has set its switches. A cluster counts as multi-node with more than
one alive node, or with a single alive node that advertises no CPU (a head like
cluster.yaml's, whose trials can only run on workers that are about to join).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import ray
import torch
from ray._private import ray_constants
from ray.cluster_utils import Cluster

from ntm.cli import UsageError
from ntm.errors import require
from search.cluster.env import LOOPBACK_ENV

__all__ = [
    "NodeInfo",
    "alive_nodes",
    "check_resources",
    "init_ray",
    "is_multinode",
    "local_cluster",
]


@dataclass(frozen=True)
class NodeInfo:
    """One alive Ray node: its id, IP address and advertised CPUs and GPUs."""

    node_id: str
    ip: str
    cpus: float
    gpus: float


def init_ray(address: str | None) -> None:
    """Start local Ray on 127.0.0.1 (all CPUs, no dashboard), or join ``address``."""
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(
            address="local",  # a new instance, never one found on this machine
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
        )


def alive_nodes() -> list[NodeInfo]:
    """The alive nodes of the cluster Ray is connected to (empty when Ray is not initialised)."""
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


def check_resources(cpus_per_trial: float, gpus_per_trial: float, *, joined: bool) -> None:
    """A trial must fit on one node: UsageError otherwise (before any trial starts).

    ``joined``: check the alive nodes of the joined cluster (nothing to check while only a
    CPU-less head is up); otherwise this machine.
    """
    if joined:
        nodes = alive_nodes()
        cpus = max((n.cpus for n in nodes), default=0.0)
        gpus = max((n.gpus for n in nodes), default=0.0)
        where = "any node of the cluster"
        if cpus == 0:  # only a CPU-less head so far: workers still joining
            return
    else:
        cpus = float(os.cpu_count() or 1)
        gpus = float(torch.cuda.device_count()) if torch.cuda.is_available() else 0.0
        where = "this machine"
    require(
        cpus_per_trial <= cpus,
        f"--cpus-per-trial {cpus_per_trial:g} is more than the {cpus:g} CPUs of {where}",
        error=UsageError,
    )
    require(
        gpus_per_trial <= gpus,
        f"--gpus-per-trial {gpus_per_trial:g} is more than the {gpus:g} GPUs of {where}",
        error=UsageError,
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
    require(workers >= 1, f"workers must be >= 1, but got {workers=}.")
    require(cpus_per_worker >= 1, f"cpus_per_worker must be >= 1, but got {cpus_per_worker=}.")
    # Ray reads the switch when it is imported: set it first thing (search.cluster.env).
    require(
        not ray_constants.ENABLE_RAY_CLUSTER,
        f"local_cluster needs {LOOPBACK_ENV}=0 set before Ray is imported "
        "(search.cluster.env.set_ray_env), so that every node listens on 127.0.0.1",
    )
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
