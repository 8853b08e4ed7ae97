"""--max-concurrent: Ray's max_concurrent_trials, by default from the cluster's CPUs."""

from __future__ import annotations

from pathlib import Path

from search.launch.cli import parse_search_args
from search.launch.config import SearchConfig, load_search_space
from search.launch.tuner import build_tuner


def test_concurrency_rule() -> None:
    # Rule: --max-concurrent N is N, locally and on a cluster.
    assert SearchConfig(max_concurrent=3).concurrency(64.0) == 3
    assert SearchConfig(max_concurrent=3, address="auto").concurrency(64.0) == 3
    # Rule: on a cluster, the default is its CPUs over the CPUs per trial (rounded down)...
    assert SearchConfig(address="auto", cpus_per_trial=2.0).concurrency(17.0) == 8
    # ...at least 1 (a head without CPUs before workers join)...
    assert SearchConfig(address="auto").concurrency(0.0) == 1
    # ...and locally there is no limit but the CPUs (None: Ray's own).
    assert SearchConfig().concurrency(64.0) is None


def test_max_concurrent_reaches_the_tuner(tmp_path: Path) -> None:
    cfg = parse_search_args(
        ["--smoke-test", "--no-tracking", "--max-concurrent", "3", "--storage-path", str(tmp_path)]
    )
    tuner = build_tuner(cfg, load_search_space(cfg), None)
    # Rule: the flag is the Tuner's max_concurrent_trials (Ray then wraps the searcher in a
    # ConcurrencyLimiter and keeps that many trials pending).
    assert tuner._local_tuner is not None
    assert tuner._local_tuner._tune_config.max_concurrent_trials == 3
