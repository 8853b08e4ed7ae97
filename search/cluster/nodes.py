"""The Ray cluster a search runs on: starting local Ray or joining one, its alive nodes, and
whether a trial fits on one node.

Ray is started on 127.0.0.1 with all CPUs and no dashboard (``init_ray``), after
``search.cluster.env`` has set its switches. A cluster counts as multi-node with more than
one alive node, or with a single alive node that advertises no CPU (a head like
cluster.yaml's, whose trials can only run on workers that are about to join).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import ray
import torch

from ntm.cli import UsageError
from ntm.errors import require
from search.cluster.worker import setup_worker

__all__ = [
    "NodeInfo",
    "alive_nodes",
    "check_resources",
    "init_ray",
    "is_multinode",
]


@dataclass(frozen=True)
class NodeInfo:
    """One alive Ray node: its id, IP address and advertised CPUs and GPUs."""

    node_id: str
    ip: str
    cpus: float
    gpus: float


def init_ray(address: str | None) -> None:
    """Start local Ray on 127.0.0.1 (all CPUs, no dashboard), or join ``address``; either way
    every worker of the search runs ``search.cluster.worker.setup_worker`` first."""
    runtime_env = {"worker_process_setup_hook": setup_worker}
    if address:
        ray.init(address=address, logging_level=logging.WARNING, runtime_env=runtime_env)
    else:
        ray.init(
            address="local",  # a new instance, never one found on this machine
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
            runtime_env=runtime_env,
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
