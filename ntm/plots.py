"""PNG plots of a model at work and of its training (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ntm.baseline import Model  # noqa: E402
from ntm.tasks import Batch  # noqa: E402


def save_figure(fig: Any, path: Path) -> Path:
    """Lay out, write as PNG and close ``fig``: the one way every plot of the project is saved."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@torch.no_grad()
def plot_inference(model: Model, batch: Batch, out_dir: Path, *, index: int = 0) -> list[Path]:
    """Output vs target, read/write weightings over time and final memory, for one sequence.

    The LSTM baseline has no memory or heads: only ``output_vs_target.png`` is drawn for it.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    logits, _, trace = model.forward_sequence(batch.inputs, trace=True)
    length = int(batch.lengths[index])
    x = batch.inputs[:length, index].T.cpu()  # [I, T]
    y = torch.sigmoid(logits[:length, index]).T.cpu()  # [O, T]
    target = (batch.targets[:length, index] * batch.mask[:length, index, None]).T.cpu()
    fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
    for ax, data, title in zip(axes, (x, target, y), ("input", "target", "output (sigmoid)")):
        ax.imshow(data, aspect="auto", cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title)
        ax.set_ylabel("channel")
    axes[-1].set_xlabel("time step")
    paths = [save_figure(fig, out_dir / "output_vs_target.png")]
    if trace is None:  # the LSTM baseline: nothing else to draw
        return paths

    reads = model.config.read_heads
    weights = trace.weights[:length, index].cpu()  # [T, H, N]
    heads = weights.shape[1]
    fig, axes = plt.subplots(1, heads, figsize=(4 * heads, 4), squeeze=False)
    for h in range(heads):
        ax = axes[0][h]
        ax.imshow(weights[:, h].T, aspect="auto", cmap="viridis", interpolation="nearest")
        kind = "read" if h < reads else "write"
        ax.set_title(f"{kind} head {h if h < reads else h - reads}")
        ax.set_xlabel("time step")
        ax.set_ylabel("memory location")
    paths.append(save_figure(fig, out_dir / "weightings.png"))

    memory = trace.memory[length - 1, index].cpu()  # [N, M]
    fig, ax = plt.subplots(figsize=(6, 6))
    im = ax.imshow(memory, aspect="auto", cmap="RdBu_r", interpolation="nearest")
    fig.colorbar(im, ax=ax)
    ax.set_title("memory at the last step")
    ax.set_xlabel("width M")
    ax.set_ylabel("location N")
    paths.append(save_figure(fig, out_dir / "memory.png"))
    return paths


def plot_run(
    model: Model, batch: Batch, history: Sequence[dict[str, Any]], out_dir: Path
) -> list[Path]:
    """A checkpoint's plots: ``plot_inference`` on the first sequence of ``batch``, and
    ``learning_curve.png`` when ``history`` (its reports) is not empty."""
    paths = plot_inference(model, batch, out_dir)
    if history:
        paths.append(plot_learning_curve(history, out_dir / "learning_curve.png"))
    return paths


def plot_learning_curve(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Cost and bit errors per sequence vs sequences seen, curriculum level on a twin axis."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seqs = [h["sequences"] for h in history]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(seqs, [h["loss"] for h in history], label="cost (bits/seq)")
    ax.plot(seqs, [h["bit_errors"] for h in history], label="bit errors/seq (train)")
    evals = [(h["sequences"], h["eval_bit_errors"]) for h in history if "eval_bit_errors" in h]
    if evals:
        ax.plot(*zip(*evals), "o-", ms=3, label="bit errors/seq (eval, target level)")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("sequences seen")
    ax.legend(loc="upper left")
    twin = ax.twinx()
    twin.step(seqs, [h["level"] for h in history], color="gray", where="post", alpha=0.6)
    twin.set_ylabel("curriculum level")
    ax.set_title("learning curve")
    return save_figure(fig, path)
