"""search.trial.resume: which checkpoint a restored trial continues from, on Ray's real
StorageContext over a local directory (pyarrow's local filesystem), with real checkpoint files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs
import pytest
from ray import tune
from ray.train._internal.storage import StorageContext

from ntm.checkpoint import FORMAT, load_checkpoint, save_atomic
from search.trial.resume import checkpoint_index, own_checkpoints, restore_newest
from search.trial.trainable import CHECKPOINT_FILE


def storage_for(root: Path, trial: str) -> StorageContext:
    return StorageContext(storage_path=str(root), experiment_dir_name="exp", trial_dir_name=trial)


def write_checkpoints(storage: StorageContext, steps: list[int]) -> list[str]:
    """checkpoint_000000.. of the trial, the i-th holding ``step = steps[i]``."""
    paths = []
    for index, step in enumerate(steps):
        path = Path(storage.trial_fs_path) / f"checkpoint_{index:06d}"
        save_atomic(
            {"format": FORMAT, "config": {}, "model": {}, "step": step}, path / CHECKPOINT_FILE
        )
        paths.append(str(path))
    return paths


def step_of(directory: Path) -> int:
    return int(load_checkpoint(directory / CHECKPOINT_FILE)["step"])


def test_checkpoint_index_reads_rays_directory_names() -> None:
    assert checkpoint_index("/r/exp/t1/checkpoint_000012") == 12
    assert checkpoint_index("bucket/exp/t1/checkpoint_000003") == 3
    assert checkpoint_index("/r/exp/t1/result.json") is None
    assert checkpoint_index("/r/exp/t1/checkpoint_tmp") is None


def test_own_checkpoints_in_index_order_and_none_for_a_new_trial(tmp_path: Path) -> None:
    fs = pyarrow.fs.LocalFileSystem()
    trial = tmp_path / "t1"
    for name in ("checkpoint_000010", "checkpoint_000002", "checkpoint_000009"):
        (trial / name).mkdir(parents=True)
    (trial / "checkpoint_000011").write_text("a file, not a checkpoint")
    # Rule: directories only, ordered by their number, oldest first.
    assert [i for i, _ in own_checkpoints(fs, str(trial))] == [2, 9, 10]
    # Rule: a trial directory that does not exist yet has no checkpoints (no error).
    assert own_checkpoints(fs, str(tmp_path / "absent")) == []


def test_fresh_trial_starts_from_scratch(tmp_path: Path) -> None:
    storage = storage_for(tmp_path, "t1")
    assert restore_newest(None, storage, step_of) == (None, False)
    assert storage.current_checkpoint_index == -1


def test_newest_on_disk_wins_over_rays_older_checkpoint(tmp_path: Path) -> None:
    storage = storage_for(tmp_path, "t1")
    paths = write_checkpoints(storage, [32, 64, 96, 128])
    storage.current_checkpoint_index = 1  # what Ray's snapshot knew
    given = tune.Checkpoint(paths[1])
    # Rule 2 and 4: the newest checkpoint on disk, said to be newer than Ray's.
    assert restore_newest(given, storage, step_of) == (128, True)
    # Rule 3: Ray's next checkpoint is numbered after the newest on disk.
    assert storage.current_checkpoint_index == 3
    # Without a checkpoint from Ray (a trial that checkpointed after the snapshot) too.
    assert restore_newest(None, storage_for(tmp_path, "t1"), step_of) == (128, True)


def test_rays_checkpoint_when_it_is_the_newest(tmp_path: Path) -> None:
    storage = storage_for(tmp_path, "t1")
    paths = write_checkpoints(storage, [32, 64])
    # Rule 4: Ray's own checkpoint was reported: nothing to report again.
    assert restore_newest(tune.Checkpoint(paths[1]), storage, step_of) == (64, False)


def test_a_checkpoint_cut_short_falls_back_to_the_one_before(tmp_path: Path) -> None:
    storage = storage_for(tmp_path, "t1")
    paths = write_checkpoints(storage, [32, 64, 96])
    (Path(paths[2]) / CHECKPOINT_FILE).write_bytes(b"PK\x03\x04 truncated")
    # Rule 2: the newest that loads; the index still passes the broken one (not overwritten).
    assert restore_newest(tune.Checkpoint(paths[0]), storage, step_of) == (64, True)
    assert storage.current_checkpoint_index == 2


def test_never_older_than_rays_checkpoint(tmp_path: Path) -> None:
    storage = storage_for(tmp_path, "t1")
    paths = write_checkpoints(storage, [32, 64, 96])
    (Path(paths[2]) / CHECKPOINT_FILE).write_bytes(b"broken")
    # Rule 2: Ray's checkpoint is the floor: an unreadable Ray checkpoint is an error, not an
    # older start.
    with pytest.raises(ValueError, match="cannot load checkpoint"):
        restore_newest(tune.Checkpoint(paths[2]), storage, step_of)


def test_a_pbt_exploit_keeps_the_donors_checkpoint(tmp_path: Path) -> None:
    mine, donor = storage_for(tmp_path, "t1"), storage_for(tmp_path, "t2")
    write_checkpoints(mine, [32, 64, 96])
    donor_paths = write_checkpoints(donor, [320])
    # Rule 1: a checkpoint from another trial's directory is used as Ray gives it.
    assert restore_newest(tune.Checkpoint(donor_paths[0]), mine, step_of) == (320, False)
    assert mine.current_checkpoint_index == 2
