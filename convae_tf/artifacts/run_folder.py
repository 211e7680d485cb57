"""The run folder (README "The workdir"): written by training one run at a time, never
clobbering a finished run, with atomic model files; read back by evaluate, embed and export
(`load_run`)."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import shutil
import warnings
from pathlib import Path

import keras

from convae_tf import models as _models  # noqa: F401  (registers the variants for load_model)
from convae_tf.artifacts import exported_weights
from convae_tf.errors import ConfigError
from convae_tf.utils.files import atomic_path

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
    with atomic_path(path) as tmp:
        model.save(tmp)


def initial_weights_file(source) -> Path:
    """What --init_from names: a `.keras` file, a finished run's model.keras, or an exported
    model (a version folder, or its parent for the highest version)."""
    source = Path(source)
    exported = exported_weights.version_dir(source)
    if exported:
        return exported
    path = source / "model.keras" if source.is_dir() else source
    if not path.is_file():
        raise ConfigError(
            f"--init_from={source}: no such .keras file, finished run folder or exported model; "
            "give a model.keras, the workdir of a finished training run or an export folder"
        )
    return path


def load_initial_weights(model: keras.Model, path: Path) -> int:
    """Sets `model`'s weights to those saved in `path` (see `initial_weights_file`), a model of
    the same architecture; returns how many trainable variables kept their own values (an
    export holds only what its signatures use). A ConfigError names what does not fit."""
    if path.is_dir():
        return exported_weights.load(model, path)
    try:
        with warnings.catch_warnings():
            # The run starts a new optimizer on purpose: Keras's note that it skipped the saved
            # optimizer's state is not news to the user.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(str(path))
    except Exception as error:  # another architecture, a truncated or foreign file
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        # Keras's first line may only announce the example that its next line gives.
        reason = " ".join(lines[:2] if lines and lines[0].endswith(":") else lines[:1])
        raise ConfigError(
            f"--init_from={path} could not be loaded into this model "
            f"({reason[:300] or type(error).__name__}); give a "
            "model.keras of the same --model, --model_args, --latent_dim and image channels"
        ) from None
    return 0


@dataclasses.dataclass
class Run:
    workdir: Path
    config: dict
    model: keras.Model

    @property
    def train(self) -> dict:
        return self.config["train"]

    @property
    def normal_classes(self) -> tuple[int, ...] | None:
        classes = self.train.get("normal_classes")
        return None if classes is None else tuple(int(c) for c in classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.model.image_shape)


def load_run(workdir) -> Run:
    """The config and trained model of a finished `python -m convae_tf.train` run."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise ConfigError(
            f"--workdir={workdir} does not exist; give the folder of a training run "
            "(python -m convae_tf.train ... --workdir=DIR)"
        )
    config_path, model_path = workdir / "config.json", workdir / "model.keras"
    if not model_path.is_file():
        raise ConfigError(
            f"{workdir} holds no model.keras: the run is unfinished or is not a training run; "
            "finish it by rerunning its train command"
        )
    try:
        run_config = json.loads(config_path.read_text())
        run_config["train"]["dataset"]
    except FileNotFoundError:
        raise ConfigError(f"{workdir} holds no config.json; is it a training run?") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{config_path} is corrupt ({type(error).__name__}: {error}); retrain the run"
        ) from None
    try:
        # safe_mode: a model file never runs code (no lambda deserialisation).
        model = keras.saving.load_model(str(model_path), safe_mode=True)
    except Exception as error:  # a truncated or foreign file: say which, not a traceback
        raise ConfigError(
            f"{model_path} could not be loaded ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); retrain the run"
        ) from None
    if getattr(model, "image_shape", None) is None:
        raise ConfigError(f"{model_path} holds an unbuilt model; re-save it after training")
    return Run(workdir=workdir, config=run_config, model=model)
