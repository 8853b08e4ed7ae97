"""A search with one trial forced to NaN: that trial is pruned_nan, the others complete."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from search.run import main
from search.space.study import STUDY_FILE, TRIAL_ID_ATTR
from search.trial.status import PRUNED_OBJECTIVE

NAN_STEP = 12  # with batch 8 and 64 sequences per report, reports come every 8 steps
REPORT_EVERY = 8


@pytest.mark.slow
def test_nan_trial_is_pruned_and_the_search_goes_on(tmp_path: Path) -> None:
    argv = [
        "--smoke-test",
        "--no-tracking",
        "--storage-path",
        str(tmp_path),
        "--experiment",
        "nan",
        "--num-samples",
        "3",
        "--max-iterations",
        "4",
        "--grace-period",
        "4",  # ASHA stops nobody: every healthy trial must complete
        "--inject-nan-at-step",
        str(NAN_STEP),
        "--inject-nan-trials",
        "1",
    ]
    # Rule: the search itself succeeds although one trial diverged.
    assert main(argv) == 0
    table = pd.read_csv(tmp_path / "nan" / "results.csv", dtype={"trial_id": str})
    pruned = table[table["status"] == "pruned_nan"]
    # Rule: exactly the injected trial is pruned_nan, every other trial completes.
    assert len(pruned) == 1
    assert sorted(table["status"]) == ["completed", "completed", "pruned_nan"]
    row = pruned.iloc[0]
    # Rule: the pruned trial records the step of the fault and stops within one report of it.
    assert row["nan_step"] == NAN_STEP
    assert row["iterations"] == math.ceil(NAN_STEP / REPORT_EVERY)
    assert isinstance(row["nan_parameters"], str) and row["nan_parameters"]
    # Rule: a NaN trial is never ranked best.
    assert table.iloc[0]["status"] == "completed"
    assert table.index[table["status"] == "pruned_nan"][0] == len(table) - 1

    # Rule: the study is in the experiment directory's sqlite file, named after the experiment,
    # readable by optuna.load_study (as optuna-dashboard reads it), one Optuna trial per trial.
    study = optuna.load_study(
        study_name="nan", storage=f"sqlite:///{tmp_path / 'nan' / STUDY_FILE}"
    )
    states = {t.user_attrs[TRIAL_ID_ATTR]: t for t in study.get_trials()}
    assert len(study.get_trials()) == len(states) == len(table)
    assert sorted(states) == sorted(table["trial_id"])
    pruned_id = row["trial_id"]
    # Rule: Optuna's study marks the NaN trial PRUNED (not COMPLETE with a value)...
    assert states[pruned_id].state == TrialState.PRUNED
    # ...with the sentinel as its (last intermediate) value, so TPE counts it as bad...
    assert states[pruned_id].value == PRUNED_OBJECTIVE
    # ...and the healthy trials COMPLETE with finite values.
    others = [t for trial_id, t in states.items() if trial_id != pruned_id]
    assert [t.state for t in others] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert all(t.value is not None and math.isfinite(t.value) for t in others)
