"""Which trial a trial's weights come from: after a PBT/PB2 exploit, the trial it copied.

Every checkpoint's Ray metadata (``Checkpoint.set_metadata``) holds the id of the trial that
saved it, and that trial's own lineage. A trial restored from a checkpoint that another
trial saved was exploited from that trial, at that checkpoint's ``training_iteration`` (the
MLflow step); a trial restored from its own checkpoint (a resume, a node loss) keeps the
lineage its checkpoint recorded. The reports carry it as ``exploited_from`` and
``exploited_at_step`` (the latest exploit), and ``search.tracking`` makes them tags.

Example:
    >>> Lineage.restored("b", None, 0).metrics()
    {}
    >>> Lineage("b").after_restore({"trial_id": "a"}, 4).metrics()
    {'exploited_from': 'a', 'exploited_at_step': 4}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray import tune

__all__ = ["Lineage"]


@dataclass(frozen=True)
class Lineage:
    """A trial's id and the latest exploit that brought its weights (None: none)."""

    trial_id: str
    exploited_from: str | None = None
    exploited_at_step: int | None = None

    @staticmethod
    def restored(trial_id: str, checkpoint: tune.Checkpoint | None, iteration: int) -> Lineage:
        """The lineage of trial ``trial_id`` started from ``checkpoint`` (saved at report
        ``iteration``), or a fresh one."""
        own = Lineage(trial_id)
        return (
            own if checkpoint is None else own.after_restore(checkpoint.get_metadata(), iteration)
        )

    def after_restore(self, saved: Mapping[str, Any], iteration: int) -> Lineage:
        """This trial's lineage after a restore from a checkpoint with metadata ``saved``."""
        saver = saved.get("trial_id")
        if saver is None:  # a checkpoint from before lineages were recorded
            return self
        if saver != self.trial_id:
            return Lineage(self.trial_id, str(saver), iteration)
        at = saved.get("exploited_at_step")
        return Lineage(self.trial_id, saved.get("exploited_from"), None if at is None else int(at))

    def metadata(self) -> dict[str, Any]:
        """What a checkpoint saved by this trial records."""
        return {"trial_id": self.trial_id, **self.metrics()}

    def metrics(self) -> dict[str, Any]:
        """The report keys: the latest exploit, if any."""
        if self.exploited_from is None:
            return {}
        return {"exploited_from": self.exploited_from, "exploited_at_step": self.exploited_at_step}
