"""The PNG plots a search logs: one trial's (learning curve, output vs target, weightings,
memory: ``plot_checkpoint``), the whole search's from its MLflow runs (objective per trial by
status and the best so far: ``plot_search``) and from its Optuna study (optimisation history
and parameter importances: ``plot_study``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

import ntm
from ntm.checkpoint import load_checkpoint
from ntm.plots import plot_run, plt, save_figure
from search.trial.ranking import number
from search.trial.status import COMPLETED, ELIGIBLE, ERROR, PRUNED_NAN, RUNNING, STOPPED_ASHA
from search.trial.trainable import CHECKPOINT_FILE

_COLORS = {COMPLETED: "tab:green", STOPPED_ASHA: "tab:blue"}

__all__ = ["plot_checkpoint", "plot_search", "plot_study"]


def plot_checkpoint(checkpoint: Path, out_dir: Path, *, seed: int = 0) -> list[Path]:
    """Learning curve (with curriculum level), output vs target, weightings and memory."""
    path = checkpoint / CHECKPOINT_FILE if checkpoint.is_dir() else checkpoint
    model, task, _ = ntm.load(path)
    batch = task.sample(1, task.max_level, torch.Generator().manual_seed(seed))
    return plot_run(model, batch, load_checkpoint(path).get("history") or [], out_dir, task=task)


def plot_search(runs: Sequence[Any], out_dir: Path) -> list[Path]:
    """``search.png``: objective per trial (coloured by status; diverged and errored trials
    as red lines) and the best so far."""
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
    return [save_figure(fig, out_dir / "search.png")]


def plot_study(study: optuna.Study | None, out_dir: Path) -> list[Path]:
    """From the search's own Optuna study (``search.space.study``), with its true
    distributions (log scales, ints, conditional parameters): ``optuna_history.png``
    (``plot_optimization_history``) and, when Optuna can compute them (two or more COMPLETE
    trials, a parameter that varies), ``importances.png`` (``plot_param_importances``)."""
    complete = study.get_trials(states=(TrialState.COMPLETE,)) if study is not None else []
    if study is None or not complete:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_optimization_history(study)
        paths = [save_figure(ax.figure, out_dir / "optuna_history.png")]
        if len(complete) < 2:  # Optuna would call every parameter equally important
            return paths
        try:
            optuna.importance.get_param_importances(study)  # raises when not computable
        except (RuntimeError, ValueError):  # e.g. no parameter that varies
            return paths
        ax = optuna.visualization.matplotlib.plot_param_importances(study)
        paths.append(save_figure(ax.figure, out_dir / "importances.png"))
    return paths
