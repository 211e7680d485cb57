"""The training run folder: an exclusive lock, preparing it for a new or resumed run, and
saving the model atomically.

NOTE (evaluate helper): this file is a best-effort RECONSTRUCTION. The original, written by
the owner of train.py while the evaluate work was in progress, was overwritten by mistake
(the helper created a module of the same name). It is rebuilt from what train.py and
tests/test_train_cli.py use (`exclusive`, `prepare`, `save_model`) and from the former
`train.prepare_workdir` / `train._save_atomically`; compare it with your version.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import shutil
from pathlib import Path

import keras

from convae_tf import config

LOCK_NAME = ".lock"


@contextlib.contextmanager
def exclusive(workdir: Path):
    """Holds an advisory lock on `workdir` for the duration of the block, so that two training
    runs never write one folder. The kernel drops the lock when its process dies: a killed run
    leaves no stale lock behind."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise config.ConfigError(
                f"{workdir} is in use by another training run; wait for it to finish or choose "
                "another --workdir"
            ) from None
        try:
            yield workdir
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(workdir: Path, resolved: dict, overwrite: bool) -> bool:
    """Returns True when resuming an interrupted run. Refuses to clobber a finished run or to
    resume one whose configuration differs."""
    workdir = Path(workdir)
    backup = workdir / "backup"
    finished = (workdir / "model.keras").exists() and not backup.exists()
    if finished and not overwrite:
        raise config.ConfigError(
            f"{workdir} already holds a finished run; pass --overwrite to replace it or choose "
            "another --workdir"
        )
    if overwrite:
        for name in ("model.keras", "history.csv", "config.json", "metrics.json"):
            (workdir / name).unlink(missing_ok=True)
        for name in ("checkpoints", "backup", "tensorboard", "figures"):
            shutil.rmtree(workdir / name, ignore_errors=True)
    resuming = backup.exists()
    if resuming and (workdir / "config.json").exists():
        previous = json.loads((workdir / "config.json").read_text())
        # Compare as saved in JSON: tuples come back as lists.
        current = json.loads(json.dumps(resolved["train"], default=list))
        if previous.get("train") != current:
            raise config.ConfigError(
                f"{workdir} holds an interrupted run with another configuration; rerun it with "
                "the same flags to resume, or pass --overwrite"
            )
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("checkpoints", "figures", "tensorboard"):
        (workdir / name).mkdir(exist_ok=True)
    return resuming


def save_model(model: keras.Model, path: Path) -> None:
    """Save atomically: a kill mid-save never leaves a truncated model.keras."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    tmp.replace(path)
