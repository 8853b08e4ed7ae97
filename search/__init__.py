"""The search: Ray Tune trials of NTMs proposed by Optuna, stopped by ASHA, NaN trials pruned.

Entry point: ``python search/run.py`` (``--help``). Modules:

- ``search.cli``: the command line (``--help`` text, parser) -> ``search.config.SearchConfig``;
- ``search.driver``: one search: checks, Ray started or joined, the run, the results table;
- ``search.tuner``: the Ray Tune ``Tuner`` (Optuna searcher, ASHA, tracking, reporter);
- ``search.space``: the space YAML files (``search/spaces/``): loading and validation;
- ``search.params``: a trial's flat Ray ``config`` -> ``ntm.train_config.RunConfig``;
- ``search.trainable``: the Ray trainable (reports, checkpoints, NaN -> ``pruned_nan``);
- ``search.searcher``: ``OptunaSearch`` telling NaN trials to Optuna as PRUNED;
- ``search.status``: the final status of a trial; ``search.results``: the results table.

This package imports nothing heavy itself: Ray must not be imported before ``search/run.py``
has set up its environment (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` for a local search).
"""

from __future__ import annotations

from search.status import (
    COMPLETED,
    ERROR,
    FINAL_STATUSES,
    PRUNED_NAN,
    PRUNED_OBJECTIVE,
    STOPPED_ASHA,
    trial_status,
)

__all__ = [
    "COMPLETED",
    "ERROR",
    "FINAL_STATUSES",
    "PRUNED_NAN",
    "PRUNED_OBJECTIVE",
    "STOPPED_ASHA",
    "trial_status",
]
