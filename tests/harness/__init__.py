"""Machinery the tests own, and the measurements made with it.

Clusters on this machine: ``local_cluster`` (``ray.cluster_utils`` nodes on 127.0.0.1),
``ssh_node`` (an SSH server in its own namespaces), ``lan`` (network namespaces on a private
bridge), ``two_hosts`` (a head and a worker on that LAN), ``cluster_launch`` and
``derive_config`` (``ray up`` of a config derived from cluster.local.yaml), ``worker_loss``
and ``mlflow_rest``. The scenario drivers that time them print JSON lines for
benchmarks/RESULTS.md: ``python -m tests.harness.cluster_up``, ``cluster_two_hosts`` and
``scaling``. Nothing in the library (``ntm``, ``curricula``, ``search``) or in ``benchmarks``
imports this package (tests/test_imports.py).
"""
