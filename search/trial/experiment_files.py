"""The files a search writes in its experiment directory beside its trials' own, named once:
the results table (``results.csv``, written by ``search.launch.results``) and the results
of ``--confirm-top`` (``confirmed.json``, written by ``search.launch.confirm``), read back
by the launch, by MLflow's end of the search and by the export.

``confirmed.json`` holds ``{trial_id: {"confirm_mean_objective": float,
"confirm_worst_objective": float, "confirm_seeds": "S1 S2 ..."}}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS_CSV = "results.csv"
CONFIRMED_FILE = "confirmed.json"

__all__ = ["CONFIRMED_FILE", "RESULTS_CSV", "read_confirmed"]


def read_confirmed(experiment_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``confirmed.json`` of an experiment directory; {} when there was no confirmation."""
    path = Path(experiment_dir) / CONFIRMED_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
