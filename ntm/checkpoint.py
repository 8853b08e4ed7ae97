"""Atomic checkpoint files, loaded with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict of tensors and plain Python values:
``{"format", "config" (RunConfig.to_dict()), "model", "optimizer", "rng", "step",
"sequences", "elapsed", "curriculum", "history"}``. An exported model (``search/export.py``)
holds only ``format``, ``config`` and ``model``; ``ntm.load`` reads either.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import torch

from ntm.errors import first_line

FORMAT = "ntm-search/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: missing, corrupt, tampered or of another format."""


def save_atomic(obj: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` to a temporary file beside ``path``, then rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint file (or ``DIR/model.pt``) safely; raise CheckpointError if unusable."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt bytes, pickled code, truncated file
        raise CheckpointError(f"cannot load checkpoint {p}: {first_line(exc)}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"not an ntm-search checkpoint (format {FORMAT!r} expected): {p}")
    for key in ("config", "model"):
        if key not in obj:
            raise CheckpointError(f"checkpoint {p} lacks its {key!r} entry")
    return obj


def rng_state(data_rng: torch.Generator, level_rng: random.Random) -> dict[str, Any]:
    """A run's RNG states as a checkpoint's ``rng`` entry (tensors and plain values only)."""
    version, state, _ = level_rng.getstate()
    return {
        "data": data_rng.get_state(),
        "level": list(state),
        "level_version": version,
        "torch": torch.get_rng_state(),
    }


def restore_rng_state(
    rng: dict[str, Any], data_rng: torch.Generator, level_rng: random.Random
) -> None:
    """The inverse of ``rng_state``: set the data, level and global torch RNGs from it."""
    data_rng.set_state(rng["data"])
    level_rng.setstate((rng["level_version"], tuple(rng["level"]), None))
    torch.set_rng_state(rng["torch"])
