"""Where a search's Optuna study lives: an RDB storage (by default the sqlite file
``optuna.db`` in the experiment directory), named after the experiment, so that
``optuna-dashboard``, ``optuna.load_study`` and ``study.trials_dataframe()`` can read it
while the search runs and after it ends.

Example (any finished local search):
    >>> import optuna  # doctest: +SKIP
    >>> study = optuna.load_study(study_name="copy-20260101-120000",  # doctest: +SKIP
    ...     storage="sqlite:///ray-results/copy-20260101-120000/optuna.db")
    >>> study.trials_dataframe()[["number", "state", "value"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from search.cluster.storage import is_remote_uri

STUDY_FILE = "optuna.db"  # in the experiment directory, unless --optuna-storage says otherwise
TRIAL_ID_ATTR = "ray_trial_id"  # user attribute of each Optuna trial: its Ray Tune trial id
STATUS_ATTR = "ntm_status"  # user attribute of a trial closed at the end: its final status

__all__ = [
    "STATUS_ATTR",
    "STUDY_FILE",
    "TRIAL_ID_ATTR",
    "close_running_trials",
    "default_study_storage",
    "load_study",
    "open_storage",
]


def default_study_storage(experiment_path: str) -> str | None:
    """``sqlite:///EXPERIMENT_DIR/optuna.db`` for a local experiment directory; None (the study
    in memory, saved with Ray's searcher state) for a remote one (``s3://...``)."""
    if is_remote_uri(experiment_path):
        return None
    return f"sqlite:///{Path(experiment_path.removeprefix('file://')) / STUDY_FILE}"


def open_storage(uri: str) -> RDBStorage:
    """The RDB storage at ``uri`` (a sqlite file's directory is created first)."""
    engine_kwargs = None
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 30}}  # wait while a dashboard reads
    return RDBStorage(uri, engine_kwargs=engine_kwargs)


def load_study(uri: str | None, name: str) -> optuna.Study | None:
    """The search's study, or None when it has no RDB storage or none was created yet."""
    if uri is None:
        return None
    try:
        return optuna.load_study(study_name=name, storage=open_storage(uri))
    except KeyError:  # no study of that name in the storage
        return None


def close_running_trials(study: optuna.Study, status_of: Callable[[str | None], str]) -> int:
    """Give every trial still RUNNING a final state; returns how many.

    Ray tells the searcher nothing about trials that the search's end cut (its time budget,
    an interrupt: ``search.trial.endings``), nor about one whose Ray trial never started, so
    their Optuna trials would stay RUNNING for ever. Each becomes PRUNED (stopped early: its
    value, when it reported, is its last intermediate one), with its final status
    ``status_of(ray trial id)`` as the user attribute ``ntm_status``.
    """
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for frozen in running:
        status = status_of(frozen.user_attrs.get(TRIAL_ID_ATTR))
        study._storage.set_trial_user_attr(frozen._trial_id, STATUS_ATTR, status)
        study.tell(frozen.number, state=TrialState.PRUNED)
    return len(running)
