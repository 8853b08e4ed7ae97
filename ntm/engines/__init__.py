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
- ``auto``: on CPU, ``manual`` for a run's first ``AUTO_COMPILE_AFTER_STEPS`` steps, then
  ``compiled``: a run that ends early (a search trial that solves, or that ASHA stops) never
  pays a compile, a long one pays it once; ``eager`` on other devices.

The LSTM baseline (``NTMConfig.model == "lstm"``, ``ntm.baseline``) has no hand-written
backward: it runs ``eager`` always, and accepts only ``auto`` or ``eager`` (``check_engine``).
"""

from __future__ import annotations

import torch

from ntm.config import NTMConfig
from ntm.engines import bptt, compiled
from ntm.errors import require
from ntm.model import NTM

ENGINES = ("auto", "eager", "manual", "compiled")
EAGER_ONLY_MODELS = ("lstm",)  # models without a hand-written backward (``NTMConfig.model``)
# A cold compile (a model config not yet in inductor's disk cache) costs ~25-60 s on one
# core (~100-150 s on a loaded machine); at B=8-32 the compiled step saves ~20-40 ms
# (benchmarks/RESULTS.md). Switching after 2,000 uncompiled steps spends about one compile's
# worth of time before paying for one (the ski-rental rule: never worse than twice the best
# choice made in hindsight), whatever the run's length turns out to be.
AUTO_COMPILE_AFTER_STEPS = 2000


def check_engine(engine: str, *, model: str = "ntm") -> None:
    """Raise ``ValueError`` unless ``engine`` is one of ``ENGINES`` and one that ``model``
    (``NTMConfig.model``) runs: ``auto`` or ``eager`` for the LSTM baseline."""
    require(engine in ENGINES, f"engine must be one of {list(ENGINES)}, but got engine={engine!r}.")
    require(
        model not in EAGER_ONLY_MODELS or engine in ("auto", "eager"),
        f"engine must be one of ['auto', 'eager'] for model={model!r} (the fast engines "
        f"are NTM-only), but got engine={engine!r}.",
    )


def resolve_engine(
    engine: str, device: torch.device | str, *, done: int | None = None, model: str = "ntm"
) -> str:
    """The concrete engine ``engine`` means on ``device`` for the next step of a run of
    ``model`` that has made ``done`` steps: ``eager`` for the LSTM baseline; ``auto`` on CPU
    is ``manual`` for the first ``AUTO_COMPILE_AFTER_STEPS`` steps and ``compiled`` after
    (``done=None``, outside a run: ``compiled``); ``eager`` on other devices."""
    check_engine(engine, model=model)
    if model in EAGER_ONLY_MODELS:
        return "eager"
    if engine != "auto":
        return engine
    if torch.device(device).type != "cpu":
        return "eager"
    return "manual" if done is not None and done < AUTO_COMPILE_AFTER_STEPS else "compiled"


def engine_in_use(engine: str, config: NTMConfig) -> str:
    """The engine that actually runs for a resolved ``engine``: ``manual`` if compiling
    ``config`` fell back (see ``ntm.engines.compiled``)."""
    return "manual" if engine == "compiled" and compiled.fell_back(config) else engine


def sequence_logits(model: NTM, inputs: torch.Tensor, engine: str = "auto") -> torch.Tensor:
    """inputs: [T, B, I] -> logits [T, B, O], equal to ``model.forward_sequence(inputs)[0]``.

    ``engine`` is resolved with ``resolve_engine`` (``auto``: compiled on CPU).
    """
    kind = resolve_engine(engine, inputs.device)
    if kind == "eager":
        return model.forward_sequence(inputs)[0]
    fns = compiled.step_fns(model.config) if kind == "compiled" else bptt.PLAIN
    x_proj = model.controller.project_inputs(inputs)  # [T, B, G]
    return model.out(bptt.recurrence(model, x_proj, fns))  # type: ignore[no-any-return]
