"""Ray's ``OptunaSearch`` with the NaN rule written down: a NaN trial is PRUNED, never a value.

Ray's ``OptunaSearch.on_trial_complete`` tells Optuna the last ``objective`` as a COMPLETE
value; for a NaN that fails inside Optuna and Ray only logs "The value nan is not
acceptable", leaving the Optuna trial RUNNING forever. Here:

1. A trial whose last result has ``status == "pruned_nan"``, or a non-finite objective, is
   told to Optuna as ``TrialState.PRUNED`` (its value becomes its last finite intermediate
   value, ``PRUNED_OBJECTIVE`` for our trainable, so TPE counts it among the bad trials).
2. A non-finite intermediate objective is not reported to Optuna at all.
3. Fault injection: with ``inject_nan=(step, k)`` the first ``k`` trials suggested get
   ``inject_nan_at_step = step`` in their config (the count survives save/restore).
4. Seeds: with ``trial_seed=S`` each trial's config gets ``seed = draw_seed(S, TRIAL_STREAM,
   number)`` (``search.trial.seeds``; ``number`` is its Optuna trial number), also stored as
   the Optuna user attribute ``seed``.
5. Everything else is Ray's behaviour: completed and ASHA-stopped trials are COMPLETE with
   their last objective; errored trials without a result are FAIL.
6. The study lives in an RDB storage (``search.space.study``); each Optuna trial carries its
   Ray trial id as the user attribute ``ray_trial_id``.
7. Restore: the searcher is pickled by ``save`` with Ray's experiment snapshot and restored by
   ``Tuner.restore``, but the storage may be ahead of that snapshot. An Optuna trial already
   finished there counts as completed; a RUNNING one that no Ray trial of the snapshot knows
   (asked after it) is handed to the next Ray trial instead of asking a new one, so the study
   holds no orphan (tested in tests/search/test_resume.py).
8. Start points (``points_to_evaluate``) are enqueued one at a time, just before the trial
   that runs one is asked, in their order, so that the study holds only trials that ran (Ray
   enqueues them all when the study is made, which leaves WAITING trials behind in a search
   of fewer trials than start points). The ones not yet enqueued are saved with the searcher;
   on restore, a start point that an Optuna trial the snapshot does not know (asked or
   enqueued after it) already carries is not enqueued again.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from search.space.study import TRIAL_ID_ATTR
from search.trial.seeds import TRIAL_STREAM, draw_seed
from search.trial.status import PRUNED_NAN

__all__ = ["NTMOptunaSearch"]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


class NTMOptunaSearch(OptunaSearch):
    """OptunaSearch that prunes NaN trials (see the module docstring)."""

    def __init__(
        self,
        *args: Any,
        inject_nan: tuple[int, int] | None = None,
        trial_seed: int | None = None,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)  # without the start points: Ray enqueues them all
        self._inject_nan = inject_nan
        self._trial_seed = trial_seed
        self._suggested = 0
        self._orphans: list[int] = []  # rule 7: Optuna trial ids asked after the snapshot
        self._start_points = [dict(p) for p in points_to_evaluate or []]  # rule 8: not enqueued

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        new = trial_id not in self._ot_trials
        study: Any = self._ot_study
        if new and self._orphans:  # rule 7
            self._ot_trials[trial_id] = optuna.Trial(study, self._orphans.pop(0))
        elif new and self._start_points:  # rule 8: the next ask takes it
            study.enqueue_trial(self._start_points.pop(0))
        config = super().suggest(trial_id)
        if config is None:
            return None
        ot_trial = self._ot_trials[trial_id]
        if new:  # rule 6
            ot_trial.set_user_attr(TRIAL_ID_ATTR, trial_id)
        if self._trial_seed is not None:  # rule 4
            config["seed"] = draw_seed(self._trial_seed, TRIAL_STREAM, ot_trial.number)
            ot_trial.set_user_attr("seed", config["seed"])
        if self._inject_nan is not None and self._suggested < self._inject_nan[1]:
            config["inject_nan_at_step"] = self._inject_nan[0]
        self._suggested += 1
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if _finite(result.get(self.metric)) and trial_id not in self._completed_trials:
            super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        nan = result is not None and (
            result.get("status") == PRUNED_NAN or not _finite(result.get(self.metric))
        )
        if not nan or error or trial_id in self._completed_trials:
            super().on_trial_complete(trial_id, result=result, error=error)
            return
        study: Any = self._ot_study
        study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
        self._completed_trials.add(trial_id)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        self._orphans = []
        self.__dict__.setdefault("_start_points", [])  # a snapshot from before rule 8
        study: Any = self._ot_study
        numbers = {t.number: tid for tid, t in self._ot_trials.items()}
        for frozen in study.get_trials(deepcopy=False):  # rule 7
            if frozen.number in numbers and frozen.state.is_finished():
                self._completed_trials.add(numbers[frozen.number])
            elif frozen.number not in numbers and frozen.state == TrialState.RUNNING:
                self._orphans.append(frozen._trial_id)
            held = frozen.system_attrs.get("fixed_params")
            if frozen.number not in numbers and held in self._start_points:  # rule 8
                self._start_points.remove(held)

    def study_trials(self) -> list[Any]:
        """The Optuna study's FrozenTrials (for tests, reports and resume checks)."""
        study: Any = self._ot_study
        return list(study.get_trials(deepcopy=False)) if study is not None else []
