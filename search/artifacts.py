"""Ranking of finished trials and the PNG artifacts of a search (shared by tracking and export).

Ranking (``rank_key``): the highest curriculum level reached first, then the objective (eval
bit errors per sequence at the target difficulty), then the cost (eval bits per sequence),
then the sequences seen (cheaper first). ``--metric``/``--mode`` replace the first two.
Trials that diverged (``pruned_nan``) or errored are never ranked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

ELIGIBLE = ("completed", "stopped_asha")  # ended normally: finite weights, a final checkpoint
_INF = float("inf")


def _number(metrics: Mapping[str, Any], key: str, default: float) -> float:
    value = metrics.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def rank_key(
    metrics: Mapping[str, Any], *, metric: str | None = None, mode: str = "min"
) -> tuple[float, ...]:
    """Sort key, best first. A missing or non-finite value ranks last."""
    tail = (_number(metrics, "eval_loss", _INF), _number(metrics, "sequences", _INF))
    if metric is None:
        level = _number(metrics, "max_level_reached", _number(metrics, "level", 0.0))
        return (-level, _number(metrics, "objective", _INF), *tail)
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', but got mode={mode!r}.")
    sign = 1.0 if mode == "min" else -1.0
    return (sign * _number(metrics, metric, sign * _INF), *tail)


def top_runs(runs: Iterable[Any], k: int) -> list[Any]:
    """The ``k`` best MLflow trial runs whose ``status`` tag is eligible."""
    eligible = [r for r in runs if r.data.tags.get("status") in ELIGIBLE]
    return sorted(eligible, key=lambda r: rank_key(r.data.metrics))[:k]


# -- plots of one trial ---------------------------------------------------------------------
def plot_checkpoint(checkpoint: Path, out_dir: Path, *, seed: int = 0) -> list[Path]:
    """Learning curve (with curriculum level), output vs target, weightings and memory."""
    import ntm
    from ntm.checkpoint import load_checkpoint
    from ntm.plots import plot_inference, plot_learning_curve

    path = checkpoint / "checkpoint.pt" if checkpoint.is_dir() else checkpoint
    model, task, _ = ntm.load(path)
    batch = task.sample(1, task.max_level, torch.Generator().manual_seed(seed))
    paths = plot_inference(model, batch, out_dir)
    history = load_checkpoint(path).get("history") or []
    if history:
        paths.append(plot_learning_curve(history, out_dir / "learning_curve.png"))
    return paths


# -- plots of the whole search --------------------------------------------------------------
def plot_search(runs: Sequence[Any], out_dir: Path) -> list[Path]:
    """``search.png`` (objective per trial and the best so far) and, when Optuna can compute
    them, ``importances.png`` (parameter importances for the objective)."""
    from ntm.plots import plt

    out_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(runs, key=lambda r: r.info.start_time or 0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    best, best_xy = _INF, []
    for i, run in enumerate(ordered):
        status = run.data.tags.get("status", "running")
        value = _number(run.data.metrics, "objective", math.nan)
        if status in ELIGIBLE and math.isfinite(value):  # diverged trials report a sentinel
            ax.scatter([i], [value], s=18, label=status, color=_COLORS[status])
            best = min(best, value)
        elif status in ("pruned_nan", "error"):
            ax.axvline(i, color="tab:red", alpha=0.3, lw=1, label=f"{status} (no objective)")
        if math.isfinite(best):
            best_xy.append((i, best))
    if best_xy:
        ax.step(*zip(*best_xy), where="post", color="black", label="best so far")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize="small")
    ax.set_xlabel("trial (start order)")
    ax.set_ylabel("objective: eval bit errors/seq")
    ax.set_title("search: objective per trial and best so far")
    paths = [_save(fig, out_dir / "search.png")]
    importances = param_importances(ordered)
    if importances:
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(importances) + 1.5))
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names])
        ax.set_xlabel("importance for the objective (Optuna)")
        paths.append(_save(fig, out_dir / "importances.png"))
    return paths


_COLORS = {"completed": "tab:green", "stopped_asha": "tab:blue"}


def _save(fig: Any, path: Path) -> Path:
    from ntm.plots import plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def param_importances(runs: Sequence[Any]) -> dict[str, float]:
    """Optuna's parameter importances over the finished trials; {} when not computable
    (fewer than two finished trials, no parameter that varies)."""
    import optuna

    done = [
        r
        for r in runs
        if r.data.tags.get("status") in ELIGIBLE
        and math.isfinite(_number(r.data.metrics, "objective", math.nan))
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
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return CategoricalDistribution(sorted(set(values)))
    lo, hi = min(numbers), max(numbers)
    if all(v.lstrip("-").isdigit() for v in values):
        return IntDistribution(int(lo), int(hi))
    return FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)


def _value(dist: Any, text: str) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return text
    return int(text) if isinstance(dist, IntDistribution) else float(text)
