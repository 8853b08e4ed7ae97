"""The ``compiled`` engine's step functions: ``cell_step`` and ``cell_backward`` compiled by
inductor (fullgraph, static shapes), one pair of C++ kernels per (config, batch, dtype).

The sequence length never enters a graph (the recurrence loops over time in Python), so a
curriculum that changes lengths never recompiles. Inductor's FX graph cache (on by default,
in TORCHINDUCTOR_CACHE_DIR, else /tmp/torchinductor_$USER) keeps the generated kernels on
disk, so a machine pays the C++ compile once and later processes only re-trace (seconds).
If compiling fails (no C++ compiler, ...), the engine warns once, runs the plain step
functions from then on, and ``fell_back(config)`` says so: a run never dies of its engine.
"""

from __future__ import annotations

import warnings
from typing import Any

from ntm.config import NTMConfig
from ntm.engines.bptt import PLAIN, StepFn, StepFns

_RECOMPILE_LIMIT = 64  # graphs per step function: (config, batch, dtype) triples per process
_COMPILED: dict[NTMConfig, StepFns] = {}
_FELL_BACK: set[NTMConfig] = set()


def fell_back(config: NTMConfig) -> bool:
    """True if compiling ``config``'s steps failed and the plain step functions run instead."""
    return config in _FELL_BACK


def step_fns(config: NTMConfig) -> StepFns:
    """The compiled (forward, backward) step functions for ``config``, built once per process."""
    if config not in _COMPILED:
        # Imported here, not at the top: importing the compiler creates inductor's cache
        # directory, and nothing may be created before a command line is validated.
        import torch
        import torch._dynamo

        torch._dynamo.config.recompile_limit = max(
            torch._dynamo.config.recompile_limit, _RECOMPILE_LIMIT
        )
        # cpp_wrapper: the graph's kernels are called from generated C++, not Python, which
        # is ~15 % faster per step at B=1 and B=32 (measured interleaved in one process).
        opts: dict[str, Any] = {
            "fullgraph": True,
            "dynamic": False,
            "options": {"cpp_wrapper": True},
        }
        compiled = StepFns(
            torch.compile(PLAIN.forward, **opts), torch.compile(PLAIN.backward, **opts)
        )
        _COMPILED[config] = StepFns(
            _or_plain(config, compiled.forward, PLAIN.forward),
            _or_plain(config, compiled.backward, PLAIN.backward),
        )
    return _COMPILED[config]


def _or_plain(config: NTMConfig, fn: StepFn, plain: StepFn) -> StepFn:
    """``fn``, but once it raises, warn and call ``plain`` for ``config`` from then on (the
    step functions are pure, so a failed call can be rerun)."""

    def call(*args: Any) -> Any:
        if config in _FELL_BACK:
            return plain(*args)
        try:
            return fn(*args)
        except Exception as err:  # any compiler failure: fall back, loudly
            warnings.warn(f"engine='compiled' fell back to 'manual': {err!r:.300}", stacklevel=2)
            _FELL_BACK.add(config)
            return plain(*args)

    return call
