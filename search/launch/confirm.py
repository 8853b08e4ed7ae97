"""Winners confirmed over seeds (``--confirm-top K --confirm-seeds S``): the K best
configurations of a finished search are trained again, each with S fresh seeds, in a second
Ray experiment ``EXPERIMENT-confirm``; the ranking then uses their mean and worst objective
(``search.trial.ranking.rank_key``, rule 2) instead of one possibly lucky run.

Each re-run has its source trial's full config (``params.json`` in its trial directory; a
local --storage-path), fault injection removed and a seed drawn from ``CONFIRM_STREAM``. A
re-run that diverges scores ``PRUNED_OBJECTIVE``, one that errors scores infinity: an
unstable configuration is not confirmed. The results, by source trial id, are saved as
``confirmed.json`` in the experiment directory (``search.trial.experiment_files``: read by the
export) and logged as the metrics ``confirm_mean_objective`` / ``confirm_worst_objective`` of
the trial's MLflow run (``search.tracking.finish``).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from search.launch.config import SearchConfig
from search.launch.results import best_trials
from search.launch.tuner import METRIC, MODE, trainable
from search.trial.experiment_files import CONFIRMED_FILE
from search.trial.seeds import CONFIRM_STREAM, draw_seed
from search.trial.trainable import train_ntm

RERUN_KEY = "rerun"  # a re-run's Ray config: {"rerun": its trial config}

__all__ = ["RERUN_KEY", "confirm_top"]


def _points(cfg: SearchConfig, table: pd.DataFrame) -> dict[int, str]:
    """Seed -> source trial id, for S fresh seeds of each of the K best exportable trials
    (``search.launch.results.best_trials``: the trials the export could take)."""
    best = best_trials(table, cfg.confirm_top)
    return {
        draw_seed(cfg.seed, CONFIRM_STREAM, rank, s): str(trial_id)
        for rank, trial_id in enumerate(best)
        for s in range(cfg.confirm_seeds)
    }


def _config_of(cfg: SearchConfig, trial_id: str, seed: int) -> dict[str, Any]:
    config = json.loads((Path(cfg.experiment_path) / trial_id / "params.json").read_text())
    config.pop("inject_nan_at_step", None)
    return {**config, "seed": seed}


def _rerun(config: dict[str, Any]) -> None:
    """One re-run: Ray's config holds the whole trial config under ``RERUN_KEY`` (one grid
    value per re-run, so that each has exactly its source trial's keys)."""
    train_ntm(config[RERUN_KEY])


def confirm_top(cfg: SearchConfig, table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Run the confirmation (inside Ray) of the search's results ``table`` (best first);
    return and save the confirmed results by trial id."""
    sources = _points(cfg, table)
    points = [_config_of(cfg, t, s) for s, t in sources.items()]
    tuner = tune.Tuner(
        trainable(cfg, _rerun),
        param_space={RERUN_KEY: tune.grid_search(points)},
        tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, reuse_actors=True),
        run_config=tune.RunConfig(
            name=f"{cfg.experiment}-confirm", storage_path=cfg.storage_path, verbose=1
        ),
    )
    scores: dict[str, list[tuple[int, float]]] = {t: [] for t in sources.values()}
    grid = tuner.fit()
    for result in (grid[i] for i in range(len(grid))):
        seed = int((result.config or {})[RERUN_KEY]["seed"])
        value = (result.metrics or {}).get(METRIC, math.inf)
        scores[sources[seed]].append((seed, float(value) if math.isfinite(value) else math.inf))
    confirmed = {
        trial_id: {
            "confirm_mean_objective": statistics.fmean(v for _, v in runs),
            "confirm_worst_objective": max(v for _, v in runs),
            "confirm_seeds": " ".join(str(s) for s, _ in sorted(runs)),
        }
        for trial_id, runs in scores.items()
        if runs
    }
    (Path(cfg.experiment_path) / CONFIRMED_FILE).write_text(json.dumps(confirmed, indent=1))
    return confirmed
