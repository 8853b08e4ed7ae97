"""Which checkpoint a trial continues from: the newest of its own on storage, not the one in
Ray's experiment snapshot.

Ray restores a trial from the checkpoint its experiment snapshot names. The driver writes that
snapshot at most every 10 s at Tune's default (``TUNE_GLOBAL_CHECKPOINT_S=auto``), while a
trial checkpoints every ``--checkpoint-seconds``; after a ``kill -9`` of the driver the snapshot
can name a checkpoint several reports old, or none. A shorter snapshot period only narrows
that gap (a kill can fall between any checkpoint and the next snapshot), so the rule lives
here, in the trial, and reads what is on storage:

1. A checkpoint from another trial's directory (a PBT exploit) is used as Ray gives it.
2. Otherwise the trial's own ``checkpoint_NNNNNN`` with the highest NNNNNN that loads is used,
   if it is not older than Ray's. One the kill cut short does not load; the one before it is
   tried, and Ray's own checkpoint last.
3. Ray's next checkpoint index is set past the highest on storage, so none is overwritten.
4. A checkpoint newer than Ray's holds reports that Ray's ``result.json`` may lack (it keeps
   that file as of its snapshot) and that may never have reached the driver: the caller
   reports them again from the trainer's history (MLflow and ASHA skip those they have).

Ray's ``training_iteration`` restarts from the snapshot's value; a trial therefore reports its
own (the trainer's report number, ``search.trial.trainable``; Ray fills the key in only when a
report lacks it), so that MLflow's steps and replay check, ASHA's rungs and the progress table
follow the trainer. Checkpoints written between the snapshot and the kill stay on storage
(Ray's ``num_to_keep`` does not know them). Storage is read through Ray's pyarrow filesystem:
a local path or a URI such as ``s3://``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TypeVar

import pyarrow.fs
from ray import tune
from ray.train._internal.storage import StorageContext

from ntm.checkpoint import CheckpointError

_CHECKPOINT_DIR = re.compile(r"checkpoint_(\d+)")  # Ray's name for a trial's checkpoint

__all__ = ["checkpoint_index", "open_checkpoint", "own_checkpoints", "restore_newest"]

T = TypeVar("T")  # what a checkpoint directory loads into (the trial's Trainer)


def checkpoint_index(path: str) -> int | None:
    """NNNNNN of a path ending in ``checkpoint_NNNNNN``, else None."""
    match = _CHECKPOINT_DIR.fullmatch(PurePosixPath(path).name)
    return int(match.group(1)) if match else None


def own_checkpoints(fs: pyarrow.fs.FileSystem, trial_path: str) -> list[tuple[int, str]]:
    """(index, path) of the ``checkpoint_NNNNNN`` directories under ``trial_path``, oldest
    first; none when the directory does not exist yet."""
    infos = fs.get_file_info(pyarrow.fs.FileSelector(trial_path, allow_not_found=True))
    found = [
        (index, info.path)
        for info in infos
        if info.type == pyarrow.fs.FileType.Directory
        and (index := checkpoint_index(info.path)) is not None
    ]
    return sorted(found)


def open_checkpoint(checkpoint: tune.Checkpoint, load: Callable[[Path], T]) -> T:
    """``load`` of ``checkpoint``'s directory (downloaded first from remote storage)."""
    with checkpoint.as_directory() as directory:
        return load(Path(directory))


def restore_newest(
    given: tune.Checkpoint | None, storage: StorageContext, load: Callable[[Path], T]
) -> tuple[T | None, bool]:
    """What this trial continues from (rules 1-3 above), or None for a fresh start, and
    whether it comes from a checkpoint newer than Ray's (rule 4).

    ``given`` is Ray's checkpoint (``tune.get_checkpoint()``), ``storage`` the trial's
    (``ray.train._internal.session.get_storage()``; its checkpoint index is updated), ``load``
    reads a local checkpoint directory and raises CheckpointError when it cannot.
    """
    fs, trial_path = storage.storage_filesystem, PurePosixPath(storage.trial_fs_path)
    found = own_checkpoints(fs, str(trial_path))
    if found:  # rule 3
        storage.current_checkpoint_index = max(storage.current_checkpoint_index, found[-1][0])
    if given is not None and PurePosixPath(given.path).parent != trial_path:
        return open_checkpoint(given, load), False  # rule 1
    floor = checkpoint_index(given.path) if given is not None else None
    for index, path in reversed(found):  # rule 2
        if floor is not None and index < floor:
            break
        try:
            loaded = open_checkpoint(tune.Checkpoint(path, filesystem=fs), load)
        except CheckpointError:
            continue  # cut short by the kill: try the one before
        return loaded, floor is None or index > floor
    return (open_checkpoint(given, load) if given is not None else None), False
