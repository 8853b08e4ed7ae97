"""PNG plots of a model at work and of its training (matplotlib, Agg backend).

Beside the general plots of one sequence (output against target, weightings, memory), two
tasks get a plot of what the model learned (``TASK_PLOTS``):

- N-grams (``ngrams_predictions.png``): the model's ``P(next bit = 1)`` against the optimal
  Bayesian predictor's (``NGramsTask.bayes_predictions``) along the sequence, with the
  bits that came (as the paper's figure 14 compares them).
- Priority sort (``priority_writes.png``): where each write head wrote each input vector (the
  centre of its write weighting) against that vector's priority; a machine that sorts writes
  by priority (the paper's figure 17).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ntm.baseline import Model  # noqa: E402
from ntm.tasks import Batch, NGramsTask, PrioritySortTask, Task  # noqa: E402

# Task name -> the file of the plot that shows what the model learned on it.
TASK_PLOTS = {"ngrams": "ngrams_predictions.png", "priority_sort": "priority_writes.png"}


def save_figure(fig: Any, path: Path) -> Path:
    """Lay out, write as PNG and close ``fig``: the one way every plot of the project is saved."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@torch.no_grad()
def plot_inference(
    model: Model, batch: Batch, out_dir: Path, *, index: int = 0, task: Task | None = None
) -> list[Path]:
    """Output vs target, read/write weightings over time and final memory, for one sequence;
    with ``task``, also its plot of ``TASK_PLOTS`` (module docstring).

    The LSTM baseline has no memory or heads: only ``output_vs_target.png`` (and the N-grams
    plot) is drawn for it.
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
    if isinstance(task, NGramsTask):
        paths.append(_plot_ngrams(logits, batch, index, task, out_dir / TASK_PLOTS["ngrams"]))
    if trace is None:  # the LSTM baseline: nothing else to draw
        return paths

    reads = model.config.read_heads
    if isinstance(task, PrioritySortTask):
        path = out_dir / TASK_PLOTS["priority_sort"]
        paths.append(_plot_priority_writes(trace.weights, batch, index, reads, task, path))
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


def _plot_ngrams(
    logits: torch.Tensor, batch: Batch, index: int, task: NGramsTask, path: Path
) -> Path:
    """logits [T, B, 1] -> the model's and the Bayes-optimal P(1) along sequence ``index``."""
    steps = int(batch.lengths[index])
    model_p = torch.sigmoid(logits[:steps, index, 0]).cpu()  # [T]
    bayes_p = task.bayes_predictions(batch)[:steps, index].cpu()  # [T]
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(bayes_p, color="black", lw=1.2, label="Bayes-optimal P(1)")
    ax.plot(model_p, color="tab:orange", lw=1.0, label="model P(1)")
    ax.scatter(range(steps), batch.targets[:steps, index, 0].cpu(), s=4, color="gray",
               label="next bit")  # fmt: skip
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("time step")
    ax.set_ylabel("P(next bit = 1)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8)
    ax.set_title("N-grams: the model's prediction against the Bayes-optimal one")
    return save_figure(fig, path)


def _plot_priority_writes(
    weights: torch.Tensor, batch: Batch, index: int, reads: int, task: Task, path: Path
) -> Path:
    """weights [T, B, H, N] -> the write location of each input vector of sequence ``index``
    against its priority, one series per write head."""
    bits = task.output_size  # channels: bits, then the priority, then the delimiter
    n_in = int((batch.inputs[:, index, bits + 1] > 0.5).nonzero()[0, 0])  # delimiter's step
    priority = batch.inputs[:n_in, index, bits].cpu()  # [N_in]
    writes = weights[:n_in, index, reads:].cpu()  # [N_in, H_w, N]
    locations = torch.arange(writes.shape[-1], dtype=writes.dtype)  # [N]
    centre = (writes * locations).sum(-1) / writes.sum(-1).clamp_min(1e-12)  # [N_in, H_w]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for h in range(centre.shape[1]):
        ax.scatter(priority, centre[:, h], s=18, label=f"write head {h}")
    ax.set_xlabel("input priority")
    ax.set_ylabel("write location (centre of the weighting)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Priority sort: where each vector was written")
    return save_figure(fig, path)


def plot_run(
    model: Model,
    batch: Batch,
    history: Sequence[dict[str, Any]],
    out_dir: Path,
    *,
    task: Task | None = None,
) -> list[Path]:
    """A checkpoint's plots: ``plot_inference`` on the first sequence of ``batch`` (with
    ``task``'s own plot), and ``learning_curve.png`` when ``history`` (its reports) is not
    empty."""
    paths = plot_inference(model, batch, out_dir, task=task)
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
    others = [  # a task whose objective is not bit errors (N-grams: the gap to Bayes)
        (h["sequences"], h["objective"]) for h in history
        if h.get("objective") is not None and h["objective"] != h.get("eval_bit_errors")
    ]  # fmt: skip
    if others:
        ax.plot(*zip(*others), "s-", ms=3, label="objective (eval, target level)")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("sequences seen")
    ax.legend(loc="upper left")
    twin = ax.twinx()
    twin.step(seqs, [h["level"] for h in history], color="gray", where="post", alpha=0.6)
    twin.set_ylabel("curriculum level")
    ax.set_title("learning curve")
    return save_figure(fig, path)
