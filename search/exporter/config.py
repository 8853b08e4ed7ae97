"""``ExportConfig``: what one export needs, built once from the command line of
``search/export.py`` (its options are this dataclass's fields) and checked here, before
anything is read or written: the ranking mode, the sizes of ``metrics.json`` and the alias of
the registered version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.utils.validation import (  # MLflow's own rule for an alias, not a copy of it
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
)

from ntm.cli import UsageError
from ntm.errors import first_line, require
from ntm.evaluate import parse_sizes
from search.cluster.storage import DEFAULT_STORAGE_PATH
from search.trial.ranking import MODES, Mode

__all__ = ["DEFAULT_ALIAS", "ExportConfig", "check_alias"]

DEFAULT_ALIAS = "champion"  # MLflow 3 loads models:/NAME@ALIAS


def check_alias(alias: str) -> None:
    """UsageError (one line) unless ``alias`` is a name MLflow accepts for an alias."""
    try:
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
    except MlflowException as exc:
        raise UsageError(f"--alias {alias!r} is not a valid alias: {first_line(exc)}") from None


@dataclass(frozen=True)
class ExportConfig:
    """One export: the best trial of search ``experiment`` into directory ``out``.

    ``storage_path`` is as given (``search/export.py`` resolves it, once);
    ``tracking_uri`` None: ``$MLFLOW_TRACKING_URI``, else the default (``search.tracking``);
    ``metric``/``mode``: rank by that reported metric instead of level and objective;
    ``lengths``: comma-separated sizes for ``metrics.json`` (None or "": from the task);
    ``register``: also register the model under this name, its version aliased ``alias``.

    >>> ExportConfig("copy-asha", Path("out"), mode="max").mode
    'max'
    >>> ExportConfig("copy-asha", Path("out"), mode="low")
    Traceback (most recent call last):
    ntm.cli.UsageError: --mode must be one of ['min', 'max'], but got 'low'.
    """

    experiment: str
    out: Path
    storage_path: str = DEFAULT_STORAGE_PATH
    tracking_uri: str | None = None
    metric: str | None = None
    mode: Mode = "min"
    lengths: str | None = None
    force: bool = False
    register: str | None = None
    alias: str = DEFAULT_ALIAS

    def __post_init__(self) -> None:
        require(
            self.mode in MODES,
            f"--mode must be one of {list(MODES)}, but got {self.mode!r}.",
            error=UsageError,
        )
        if self.lengths:
            parse_sizes(self.lengths)  # UsageError naming --lengths
        check_alias(self.alias)

    @property
    def sizes(self) -> list[int] | None:
        """``lengths`` as a list of sizes; None: the task's default sizes."""
        return parse_sizes(self.lengths) if self.lengths else None
