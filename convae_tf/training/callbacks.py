"""Training callbacks specific to autoencoders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np

from convae_tf.artifacts import run_folder
from convae_tf.utils import figures, files


class ReconstructionGrid(keras.callbacks.Callback):
    """Writes `figures/reconstructions_epoch_NNN.png` (inputs above reconstructions) each epoch,
    on a fixed batch of held-out images, so progress can be seen at a glance."""

    def __init__(self, images: np.ndarray, directory: Path, every: int = 1):
        super().__init__()
        self.images = np.asarray(images, dtype="float32")
        self.directory = Path(directory)
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        outputs = np.asarray(self.model(self.images, training=False))
        figures.image_rows(
            {"input": self.images, "output": outputs},
            self.directory / f"reconstructions_epoch_{epoch + 1:03d}.png",
            title=f"epoch {epoch + 1}",
        )


class CollapseWarning(keras.callbacks.Callback):
    """Prints one warning line when the model gives the same reconstruction for every image.

    A deep enough network trained with MSE through the sigmoid can saturate to one constant
    image within an epoch (on mostly dark images): the gradient vanishes there, the loss goes
    flat and nothing else says so. Checked at each epoch's end on a fixed batch of held-out
    images: the reconstructions' spread across the batch (per-pixel standard deviation,
    averaged) against the images' own; below `ratio` of it, the run has collapsed. Not after
    the first epoch: a freshly initialised decoder's outputs barely differ either (0.3% of the
    images' spread for a tiny model), and a short or slow first epoch is no collapse. A
    collapsed one is saturated: its spread measured 0.0.
    """

    def __init__(self, images: np.ndarray, ratio: float = 1e-3):
        super().__init__()
        self.images = np.asarray(images, dtype="float32")
        self.image_spread = self.spread(self.images)
        self.ratio = ratio
        self.warned = False

    @staticmethod
    def spread(images) -> float:
        return float(np.mean(np.std(np.asarray(images, dtype="float32"), axis=0)))

    def on_epoch_end(self, epoch, logs=None):
        if self.warned or epoch == 0 or len(self.images) < 2 or self.image_spread == 0:
            return
        output_spread = self.spread(self.model(self.images, training=False))
        if output_spread >= self.ratio * self.image_spread:
            return
        self.warned = True
        loss = getattr(self.model, "reconstruction_loss", None)
        fix = (
            "train with --model_args=reconstruction_loss=bce"
            if loss == "mse"
            else "try a lower --learning_rate or another --seed"
        )
        print(
            f"[convae_tf] warning: epoch {epoch + 1}: the model gives the same reconstruction "
            f"for every image (spread {output_spread:.2g} across images, theirs "
            f"{self.image_spread:.2g}): training has collapsed; {fix}",
            flush=True,
        )


class ResumableCSVLogger(keras.callbacks.CSVLogger):
    """CSVLogger whose file stays one row per epoch across a kill and a resume.

    Put it before BackupAndRestore, so an epoch's row is written before its backup: a kill
    in between leaves a row for an epoch that will run again, and on resume the rows from the
    backed-up epoch on are dropped. (The other order would lose that row for good.) The epoch
    to resume from is read from BackupAndRestore's metadata file in `backup_dir`.
    """

    def __init__(self, filename, backup_dir):
        super().__init__(str(filename), append=True)
        self.backup_metadata = Path(backup_dir) / "training_metadata.json"

    def on_train_begin(self, logs=None):
        resume_epoch = 0
        if self.backup_metadata.exists():
            resume_epoch = int(json.loads(self.backup_metadata.read_text())["epoch"])
        path = Path(self.filename)
        if path.exists():
            lines = path.read_text().splitlines(keepends=True)
            kept = lines[:1] + [
                line for line in lines[1:] if int(line.split(self.sep, 1)[0]) < resume_epoch
            ]
            files.write_text(path, "".join(kept) if resume_epoch else "")
        super().on_train_begin(logs)


class BestCheckpoint(keras.callbacks.Callback):
    """Keeps `directory/best.keras`: the model at its lowest finite `monitor` so far.

    Unlike keras.callbacks.ModelCheckpoint it never saves a non-finite value (a diverged
    epoch must not replace the last good model), writes atomically (a kill mid-save leaves the
    previous file whole), and remembers the best value in `best.json`, so that a resumed run
    does not replace a better checkpoint from before the interruption.
    """

    def __init__(self, directory, monitor: str = "val_loss"):
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.best = math.inf

    @property
    def record(self) -> Path:
        return self.directory / "best.json"

    def on_train_begin(self, logs=None):
        if self.record.exists():
            self.best = float(json.loads(self.record.read_text())[self.monitor])

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or not math.isfinite(current) or current >= self.best:
            return
        self.best = float(current)
        # The model first: a kill between the two writes leaves best.json behind best.keras,
        # never ahead of it (a record ahead would refuse checkpoints better than the saved one).
        run_folder.save_model(self.model, self.directory / "best.keras")
        files.save_json({"epoch": epoch, self.monitor: self.best}, self.record)
