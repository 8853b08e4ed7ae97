"""The search plots from the Optuna study itself: its true distributions, conditional ones too."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from search.tracking.plots import plot_study

LR = FloatDistribution(1e-4, 1e-2, log=True)
SIZE = IntDistribution(16, 64, step=16)
CURRICULUM = CategoricalDistribution(["none", "plateau"])


def study_with(values: list[float]) -> optuna.Study:
    study = optuna.create_study(direction="minimize")
    for i, value in enumerate(values):
        params = {"lr": 10 ** (-4 + i % 3), "controller_size": 16 * (1 + i % 4), "curriculum":
                  "plateau" if i % 2 else "none"}  # fmt: skip
        dists = {"lr": LR, "controller_size": SIZE, "curriculum": CURRICULUM}
        if i % 2:  # conditional: patience only with the plateau curriculum
            params["patience"], dists["patience"] = 2 + i, IntDistribution(2, 20)
        study.add_trial(create_trial(params=params, distributions=dists, value=value))
    study.add_trial(create_trial(state=TrialState.PRUNED, params={}, distributions={}))
    return study


def test_plot_study_writes_history_and_importances(tmp_path: Path) -> None:
    study = study_with([3.0, 1.0, 2.5, 0.5, 4.0, 0.1, 2.0, 1.5])
    paths = plot_study(study, tmp_path)
    # Rule: the optimisation history and the importances are plotted from the study itself...
    assert [p.name for p in paths] == ["optuna_history.png", "importances.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    # ...whose importances cover every parameter, the conditional one too, with their own
    # distributions (lr log-scaled), not guesses from MLflow's string params.
    importances = optuna.importance.get_param_importances(study)
    assert set(importances) == {"lr", "controller_size", "curriculum", "patience"}
    assert study.trials[0].distributions["lr"].log


def test_plot_study_without_enough_trials(tmp_path: Path) -> None:
    # Rule: no study (in-memory search) or no COMPLETE trial: no plot; one trial: history only.
    assert plot_study(None, tmp_path) == []
    assert plot_study(study_with([]), tmp_path) == []
    assert [p.name for p in plot_study(study_with([1.0]), tmp_path)] == ["optuna_history.png"]
