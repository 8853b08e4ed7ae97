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

from pathlib import Path

import optuna
from optuna.storages import RDBStorage

from search.cluster.storage import is_remote_uri

STUDY_FILE = "optuna.db"  # in the experiment directory, unless --optuna-storage says otherwise
TRIAL_ID_ATTR = "ray_trial_id"  # user attribute of each Optuna trial: its Ray Tune trial id

__all__ = ["STUDY_FILE", "TRIAL_ID_ATTR", "default_study_storage", "load_study", "open_storage"]


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
