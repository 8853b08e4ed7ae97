"""Engines: how a training step runs the NTM recurrence forward and backward.

``sequence_logits(model, inputs, engine)``: inputs [T, B, I] -> logits [T, B, O], with the
values and gradients of ``NTM.forward_sequence`` (the eager model is the reference; the
controller's input projection and the output layer stay in autograd). Every engine runs the
same cell, ``ntm.model.cell_step``:

- ``eager``: ``NTM.forward_sequence`` under autograd (always available, vmap-able).
- ``manual``: the recurrence as one autograd Function (``ntm.engines.bptt``): ``cell_step``
  without autograd, then a hand-written backward stage by stage (``ntm.engines.stages``).
- ``compiled``: ``manual`` with the step's forward and backward compiled by inductor
  (``ntm.engines.compiled``), kernels cached on disk for the whole machine.
- ``auto``: on CPU, ``compiled`` for a run of at least ``AUTO_COMPILE_MIN_STEPS`` steps (or
  with no step limit), where a one-off compile pays for itself, else ``manual``; ``eager``
  on other devices.
"""

from __future__ import annotations

import torch

from ntm.config import NTMConfig
from ntm.engines import bptt, compiled
from ntm.model import NTM

ENGINES = ("auto", "eager", "manual", "compiled")
# A cold compile (a model config not yet in inductor's disk cache) costs ~25-60 s on one
# core; at B=8-32 the compiled step saves ~20-40 ms (benchmarks/RESULTS.md), so it repays
# itself within ~2,000 steps; a warm cache (re-tracing only, ~5-10 s) repays much sooner.
AUTO_COMPILE_MIN_STEPS = 2000


def check_engine(engine: str) -> None:
    """Raise ``ValueError`` unless ``engine`` is one of ``ENGINES``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, but got engine={engine!r}.")


def resolve_engine(engine: str, device: torch.device | str, *, steps: int = 0) -> str:
    """The concrete engine ``engine`` means on ``device`` for a run of ``steps`` (0 = no
    limit): ``auto`` is ``compiled`` on CPU for long runs, ``manual`` for short ones."""
    check_engine(engine)
    if engine != "auto":
        return engine
    if torch.device(device).type != "cpu":
        return "eager"
    return "compiled" if steps == 0 or steps >= AUTO_COMPILE_MIN_STEPS else "manual"


def engine_in_use(engine: str, config: NTMConfig) -> str:
    """The engine that actually runs for a resolved ``engine``: ``manual`` if compiling
    ``config`` fell back (see ``ntm.engines.compiled``)."""
    return "manual" if engine == "compiled" and compiled.fell_back(config) else engine


def sequence_logits(model: NTM, inputs: torch.Tensor, engine: str = "auto") -> torch.Tensor:
    """inputs: [T, B, I] -> logits [T, B, O], equal to ``model.forward_sequence(inputs)[0]``.

    ``engine`` is resolved with ``resolve_engine`` (``auto`` as for an unlimited run).
    """
    kind = resolve_engine(engine, inputs.device)
    if kind == "eager":
        return model.forward_sequence(inputs)[0]
    fns = compiled.step_fns(model.config) if kind == "compiled" else bptt.PLAIN
    x_proj = model.controller.project_inputs(inputs)  # [T, B, G]
    return model.out(bptt.recurrence(model, x_proj, fns))  # type: ignore[no-any-return]
