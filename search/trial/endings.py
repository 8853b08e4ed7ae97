"""How each trial of a search ended: by an event of its own, or cut by the search's end.

Ray tells callbacks that a trial ended (``on_trial_complete``, ``on_trial_error``) when the
trial finishes by itself, its scheduler stops it (ASHA) or it fails. When the search itself
stops, Ray stops the trials it still holds without any such event:

1. The time budget: inside one controller step Ray marks every live trial TERMINATED. The
   ``on_step_end`` after it finds them: ``stopped_budget``. Ray's final experiment snapshot
   is written after that step, so a resumed search knows them (``get_state``), and
   ``--resume`` does not rerun them (Ray keeps TERMINATED trials as they are).
2. An interrupt (Ctrl-C, SIGTERM: ``search.launch.interrupt``): Ray leaves its loop, saves
   the trials as they are (running, so ``--resume`` continues them) and only then stops
   them. ``on_experiment_end`` finds those: ``interrupted``.

A trial that started (``on_trial_start``) but never reported is in the table too: its MLflow
run exists. Ray passes one instance of this callback around by reference, so the MLflow
callback (``search.tracking.callback``) asks the same instance, also after
``Tuner.restore`` (the run config, both callbacks in it, is unpickled as one).

Example:
    >>> endings = TrialEndings()
    >>> endings.ended.add("a"); endings.cut["b"] = "stopped_budget"
    >>> endings.cut_status("a"), endings.cut_status("b")
    (None, 'stopped_budget')
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from search.trial.status import INTERRUPTED, STOPPED_BUDGET

__all__ = ["TrialEndings"]


class TrialEndings(Callback):
    """Records which trials started, ended by an event of their own, or were cut."""

    def __init__(self) -> None:
        self.started: set[str] = set()
        self.ended: set[str] = set()  # completed, stopped by the scheduler, or errored
        self.cut: dict[str, str] = {}  # trial id -> stopped_budget | interrupted

    def get_state(self) -> dict[str, Any] | None:
        return {"started": sorted(self.started), "ended": sorted(self.ended), "cut": self.cut}

    def set_state(self, state: dict[str, Any]) -> None:
        self.started = set(state.get("started", ()))
        self.ended = set(state.get("ended", ()))
        self.cut = {k: v for k, v in dict(state.get("cut") or {}).items() if k not in self.ended}

    def cut_status(self, trial_id: str) -> str | None:
        """``stopped_budget`` or ``interrupted`` for a cut trial, else None."""
        return None if trial_id in self.ended else self.cut.get(trial_id)

    def _mark_cut(self, trials: list[Trial], status: str) -> None:
        for trial in trials:
            tid = str(trial.trial_id)
            if trial.status == Trial.TERMINATED and tid not in self.ended and tid not in self.cut:
                self.cut[tid] = status

    def on_trial_start(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.started.add(str(trial.trial_id))
        self.cut.pop(str(trial.trial_id), None)  # resumed: it may end otherwise this time

    def on_trial_restore(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.on_trial_start(iteration, trials, trial)

    def on_trial_complete(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.ended.add(str(trial.trial_id))

    def on_trial_error(
        self, iteration: int, trials: list[Trial], trial: Trial, **info: Any
    ) -> None:
        self.ended.add(str(trial.trial_id))

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        self._mark_cut(trials, STOPPED_BUDGET)  # rule 1

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        # rule 2: Ray's cleanup stops what it still held (also trials that never started:
        # they have no run and no row, whatever they are called here)
        for trial in trials:
            tid = str(trial.trial_id)
            if tid not in self.ended and tid not in self.cut and trial.status != Trial.ERROR:
                self.cut[tid] = INTERRUPTED
