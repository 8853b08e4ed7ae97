"""The PNG plots a search logs: one trial's (learning curve, output vs target, weightings,
memory: ``plot_checkpoint``) and the whole search's (objective per trial and the best so
far, and Optuna's parameter importances: ``plot_search``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import ntm
from ntm.checkpoint import load_checkpoint
from ntm.plots import plot_inference, plot_learning_curve, plt, save_figure
from search.trial.ranking import number
from search.trial.status import COMPLETED, ELIGIBLE, ERROR, PRUNED_NAN, RUNNING, STOPPED_ASHA
from search.trial.trainable import CHECKPOINT_FILE

_COLORS = {COMPLETED: "tab:green", STOPPED_ASHA: "tab:blue"}

__all__ = ["param_importances", "plot_checkpoint", "plot_search"]


def plot_checkpoint(checkpoint: Path, out_dir: Path, *, seed: int = 0) -> list[Path]:
    """Learning curve (with curriculum level), output vs target, weightings and memory."""
    path = checkpoint / CHECKPOINT_FILE if checkpoint.is_dir() else checkpoint
    model, task, _ = ntm.load(path)
    batch = task.sample(1, task.max_level, torch.Generator().manual_seed(seed))
    paths = plot_inference(model, batch, out_dir)
    history = load_checkpoint(path).get("history") or []
    if history:
        paths.append(plot_learning_curve(history, out_dir / "learning_curve.png"))
    return paths


def plot_search(runs: Sequence[Any], out_dir: Path) -> list[Path]:
    """``search.png`` (objective per trial and the best so far) and, when Optuna can compute
    them, ``importances.png`` (parameter importances for the objective)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(runs, key=lambda r: r.info.start_time or 0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    best, best_xy = math.inf, []
    for i, run in enumerate(ordered):
        status = run.data.tags.get("status", RUNNING)
        value = number(run.data.metrics, "objective", math.nan)
        if status in ELIGIBLE and math.isfinite(value):  # diverged trials report a sentinel
            ax.scatter([i], [value], s=18, label=status, color=_COLORS[status])
            best = min(best, value)
        elif status in (PRUNED_NAN, ERROR):
            ax.axvline(i, color="tab:red", alpha=0.3, lw=1, label=f"{status} (no objective)")
        if math.isfinite(best):
            best_xy.append((i, best))
    if best_xy:
        ax.step(*zip(*best_xy), where="post", color="black", label="best so far")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize="small")
    ax.set_xlabel("trial (start order)")
    ax.set_ylabel("objective (at the target difficulty)")
    ax.set_title("search: objective per trial and best so far")
    paths = [save_figure(fig, out_dir / "search.png")]
    importances = param_importances(ordered)
    if importances:
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(importances) + 1.5))
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names])
        ax.set_xlabel("importance for the objective (Optuna)")
        paths.append(save_figure(fig, out_dir / "importances.png"))
    return paths


def param_importances(runs: Sequence[Any]) -> dict[str, float]:
    """Optuna's parameter importances over the finished trials; {} when not computable
    (fewer than two finished trials, no parameter that varies)."""
    done = [
        r
        for r in runs
        if r.data.tags.get("status") in ELIGIBLE
        and math.isfinite(number(r.data.metrics, "objective", math.nan))
    ]
    names = sorted(
        k
        for k in set().union(*(r.data.params for r in done))
        if len({r.data.params.get(k) for r in done}) > 1 and all(k in r.data.params for r in done)
    ) if len(done) >= 2 else []  # fmt: skip
    if not names:
        return {}
    dists = {n: _distribution([r.data.params[n] for r in done]) for n in names}
    study = optuna.create_study(direction="minimize")
    for r in done:
        params = {n: _value(dists[n], r.data.params[n]) for n in names}
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=r.data.metrics["objective"]
            )
        )
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError):  # e.g. all objectives equal
        return {}


def _distribution(values: list[str]) -> Any:
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return CategoricalDistribution(sorted(set(values)))
    lo, hi = min(numbers), max(numbers)
    if all(v.lstrip("-").isdigit() for v in values):
        return IntDistribution(int(lo), int(hi))
    return FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)


def _value(dist: Any, text: str) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return text
    return int(text) if isinstance(dist, IntDistribution) else float(text)
