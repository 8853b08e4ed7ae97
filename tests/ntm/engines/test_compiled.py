"""The compiled engine really compiles, and matches the loop reference to 1e-10 (float64).

Not opt-in: it runs in ``make test``. It compiles one small configuration (two graphs);
inductor's on-disk cache makes later runs on the same machine fast.
"""

from __future__ import annotations

import warnings

import torch

from ntm.engines import compiled, engine_in_use
from tests.ntm.test_reference import CONFIGS, assert_matches_reference


def test_compiled_compiles_and_matches_reference() -> None:
    config = CONFIGS["lstm-2r2w-s2"]
    torch._dynamo.reset()  # count this test's graphs only
    counters = torch._dynamo.utils.counters
    counters.clear()
    with warnings.catch_warnings():
        # Rule: a fallback to the plain steps warns; here that warning fails the test.
        warnings.filterwarnings("error", message="engine=.compiled. fell back")
        assert_matches_reference(config, "compiled")
    # Rule: the steps ran compiled: no fallback was recorded, dynamo captured exactly one
    # graph per step function for all 7 steps (no recompiles), and inductor built both.
    assert not compiled.fell_back(config)
    assert engine_in_use("compiled", config) == "compiled"
    assert counters["stats"]["unique_graphs"] == 2, dict(counters["stats"])
    inductor = counters["inductor"]
    assert inductor["fxgraph_cache_hit"] + inductor["fxgraph_cache_miss"] == 2, dict(inductor)
