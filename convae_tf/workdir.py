"""The run folder: one run at a time, no clobbering of finished runs, atomic model files."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from pathlib import Path

import keras

from convae_tf.config import ConfigError

OUTPUT_FILES = ("model.keras", "history.csv", "config.json", "metrics.json")
OUTPUT_DIRS = ("checkpoints", "backup", "tensorboard", "figures")
BACKUP_METADATA = "backup/training_metadata.json"  # written by keras.callbacks.BackupAndRestore


@contextlib.contextmanager
def exclusive(workdir: Path):
    """Holds an exclusive lock on `workdir` for one training run.

    An flock belongs to the open file: the kernel drops it when the process ends, however it
    ends (even SIGKILL), so a killed run never leaves the workdir locked.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{workdir} is in use by another training run; wait for it to finish or choose "
                "another --workdir"
            ) from None
        yield


def prepare(workdir: Path, resolved: dict, overwrite: bool) -> bool:
    """Readies `workdir` (held with `exclusive`); returns True when resuming an interrupted run.

    Refuses to replace a finished run unless `overwrite`, and to resume an interrupted run
    with another configuration.
    """
    backup = workdir / "backup"
    finished = (workdir / "model.keras").exists() and not backup.exists()
    if finished and not overwrite:
        raise ConfigError(
            f"{workdir} already holds a finished run; pass --overwrite to replace it or choose "
            "another --workdir"
        )
    if overwrite:
        for name in OUTPUT_FILES:
            (workdir / name).unlink(missing_ok=True)
        for name in OUTPUT_DIRS:
            shutil.rmtree(workdir / name, ignore_errors=True)
    resuming = backup.exists()
    if resuming and (workdir / "config.json").exists():
        previous = json.loads((workdir / "config.json").read_text())
        # Compare as JSON: tuples in the new config are lists in the saved one.
        if previous.get("train") != json.loads(json.dumps(resolved["train"])):
            raise ConfigError(
                f"{workdir} holds an interrupted run with another configuration; rerun it with "
                "the same flags to resume, or pass --overwrite"
            )
    for name in ("checkpoints", "figures", "tensorboard"):
        (workdir / name).mkdir(exist_ok=True)
    return resuming


def resume_epoch(workdir: Path) -> int:
    """The epoch that BackupAndRestore will resume at: 0 unless an unfinished run backed up."""
    try:
        return int(json.loads((workdir / BACKUP_METADATA).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def save_model(model: keras.Model, path: Path) -> None:
    """Write a `.keras` file atomically: readers see the old file or the new one, never half."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    tmp.replace(path)
