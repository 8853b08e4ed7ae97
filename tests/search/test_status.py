"""The final status of a trial (search/trial/status.py) and what the search's end cut
(search/trial/endings.py), on Ray's own Trial objects."""

from __future__ import annotations

import pytest
from ray.tune.experiment import Trial

from search.trial.endings import TrialEndings
from search.trial.status import (
    COMPLETED,
    ERROR,
    INTERRUPTED,
    PRUNED_NAN,
    STOPPED_ASHA,
    STOPPED_BUDGET,
    trial_status,
)


def test_rules_in_order() -> None:
    running = {"status": "running"}
    # rule 1: an error wins; rule 2: the trial's own last word
    assert trial_status({"status": COMPLETED}, errored=True, cut=STOPPED_BUDGET) == ERROR
    assert trial_status({"status": PRUNED_NAN}, errored=False, cut=INTERRUPTED) == PRUNED_NAN
    assert trial_status({"status": COMPLETED}, errored=False, cut=STOPPED_BUDGET) == COMPLETED
    # rule 3: cut by the search's end, with or without a report
    assert trial_status(running, errored=False, cut=STOPPED_BUDGET) == STOPPED_BUDGET
    assert trial_status(None, errored=False, cut=INTERRUPTED) == INTERRUPTED
    # rule 4: stopped while running, by its scheduler
    assert trial_status(running, errored=False) == STOPPED_ASHA
    with pytest.raises(ValueError, match=r"cut must be one of \['stopped_budget', 'interrupted'\]"):
        trial_status(running, errored=False, cut="stopped_asha")


def _trial(trial_id: str, status: str) -> Trial:
    trial = Trial("train_ntm", stub=True, trial_id=trial_id)
    trial.set_status(status)
    return trial


def test_endings_tell_budget_cuts_from_interrupts_and_own_ends() -> None:
    endings = TrialEndings()
    done, asha, budget, live, pending = (
        _trial(t, Trial.RUNNING) for t in ("done", "asha", "budget", "live", "pending")
    )
    pending.set_status(Trial.PENDING)
    everyone = [done, asha, budget, live, pending]
    for trial in (done, asha, budget, live):
        endings.on_trial_start(0, everyone, trial)
    endings.on_trial_complete(0, everyone, done)  # finished by itself
    endings.on_trial_complete(0, everyone, asha)  # stopped by ASHA: Ray calls the same hook
    for trial in (done, asha):
        trial.set_status(Trial.TERMINATED)
    endings.on_step_end(0, everyone)
    # Rule: trials that ended by an event of their own are not cut
    assert endings.cut == {}
    # Rule 1: a trial TERMINATED inside a step without an event was cut by the time budget
    budget.set_status(Trial.TERMINATED)
    endings.on_step_end(1, everyone)
    assert endings.cut_status("budget") == STOPPED_BUDGET
    # Rule 2: what Ray's cleanup stops after its loop ended early was interrupted
    live.set_status(Trial.TERMINATED)
    endings.on_experiment_end(everyone)
    assert endings.cut_status("live") == INTERRUPTED
    assert endings.cut_status("done") is None and endings.cut_status("asha") is None
    # Rule: the state survives Tune's experiment snapshot (get_state / set_state)
    restored = TrialEndings()
    restored.set_state(endings.get_state() or {})
    assert restored.cut == endings.cut and restored.started == endings.started
    # Rule: a resumed trial that starts again is no longer cut
    restored.on_trial_start(2, everyone, live)
    assert restored.cut_status("live") is None
