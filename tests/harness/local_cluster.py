"""A multi-node Ray cluster on this machine (``ray.cluster_utils``), for the multi-node tests
(tests/search/test_multinode.py, tests/search/test_cluster.py) and the scale-out measurement
(``python -m tests.harness.scaling``).

Every server listens on 127.0.0.1, so Ray's loopback switch must be set before Ray is imported
(``search.cluster.env.set_ray_env``; tests/conftest.py sets it for the tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import ray
from ray._private import ray_constants
from ray.cluster_utils import Cluster

from ntm.errors import require
from search.cluster.env import LOOPBACK_ENV

__all__ = ["local_cluster"]


@contextlib.contextmanager
def local_cluster(
    workers: int, *, cpus_per_worker: int = 1, connect: bool = True
) -> Iterator[Cluster]:
    """A multi-node Ray cluster on this machine (``ray.cluster_utils``), torn down on exit.

    One head that advertises no CPU (like cluster.yaml's, so trials run on workers only) and
    ``workers`` worker nodes of ``cpus_per_worker`` CPUs, every server on 127.0.0.1.
    ``cluster.address`` is what ``--address`` takes. With ``connect`` this process joins it as
    the driver (``ray.init(address=...)``).
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
