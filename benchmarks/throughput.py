"""Training throughput of the NTM on copy (length 20) on one CPU thread, per engine.

Run: ``.venv/bin/python benchmarks/throughput.py`` (``--quick`` for a smoke test).

One training step = forward + masked BCE loss + backward + grad-norm clip (10) + Adam, the
same step ``ntm.trainer.Trainer.train_step`` takes. The model is the paper's copy setup:
N=128, M=20, LSTM 100, 1 read + 1 write head, shift range 1; a copy batch of length 20 has
41 time steps. Prints one JSON line per (engine, batch size):
``{"mode", "batch", "seq_per_sec", "ms_per_step", "threads", "first_step_s", "reps"}``.
``first_step_s`` is the first step's wall time: for ``compiled`` it is the compile time of
this process (inductor's on-disk cache makes a second process faster: it only re-traces).
Every concrete engine of ``ntm.engines`` is measured (``auto`` is one of them). They run
in interleaved blocks, so a load change on a shared machine hits every engine alike; the
median block is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from ntm.config import NTMConfig
from ntm.engines import ENGINES, sequence_logits
from ntm.metrics import sequence_cost_nats
from ntm.model import NTM
from ntm.tasks.base import Batch
from ntm.tasks.copy import CopyTask

MODES = tuple(e for e in ENGINES if e != "auto")
BATCHES = (1, 8, 32, 128)
COPY_LENGTH = 20


def make_step(model: NTM, batch: Batch, engine: str) -> Callable[[], float]:
    """A closure running one full training step on ``batch``; returns the loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> float:
        logits = sequence_logits(model, batch.inputs, engine)  # [T, B, O]
        loss = sequence_cost_nats(logits, batch.targets, batch.mask).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        return float(loss.detach())

    return step


def bench_batch(batch_size: int, modes: list[str], reps: int, seconds: float) -> list[dict]:
    """Time every engine on one batch size in ``reps`` interleaved blocks of ~``seconds``."""
    batch = CopyTask().sample_exact(batch_size, COPY_LENGTH, torch.Generator().manual_seed(0))
    steps: dict[str, Callable[[], float]] = {}
    first: dict[str, float] = {}
    per_block: dict[str, int] = {}
    for mode in modes:
        torch.manual_seed(0)
        steps[mode] = make_step(NTM(NTMConfig()), batch, mode)
        start = time.perf_counter()
        steps[mode]()
        first[mode] = time.perf_counter() - start
        start = time.perf_counter()
        steps[mode]()  # a second warm-up step also sizes the blocks
        per_block[mode] = max(1, round(seconds / (time.perf_counter() - start)))
    blocks: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(reps):
        for mode in modes:
            start = time.perf_counter()
            for _ in range(per_block[mode]):
                steps[mode]()
            blocks[mode].append((time.perf_counter() - start) / per_block[mode])
    rows = []
    for mode in modes:
        ms = statistics.median(blocks[mode])
        rows.append(
            {
                "mode": mode,
                "batch": batch_size,
                "seq_per_sec": round(batch_size / ms, 1),
                "ms_per_step": round(ms * 1e3, 2),
                "threads": torch.get_num_threads(),
                "first_step_s": round(first[mode], 2),
                "reps": reps,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter blocks")
    parser.add_argument("--modes", default=",".join(MODES), help=f"subset of {MODES}")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)), help="batch sizes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"--modes must be a subset of {list(MODES)}, but got {mode!r}.")
    torch.set_num_threads(args.threads)
    reps, seconds = (2, 0.2) if args.quick else (5, 1.0)
    for batch_size in (int(b) for b in args.batches.split(",")):
        for row in bench_batch(batch_size, modes, reps, seconds):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
