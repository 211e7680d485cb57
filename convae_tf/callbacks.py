"""Training callbacks specific to autoencoders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np

from convae_tf import plots


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
        plots.image_rows(
            {"input": self.images, "output": outputs},
            self.directory / f"reconstructions_epoch_{epoch + 1:03d}.png",
            title=f"epoch {epoch + 1}",
        )


class KLWarmUp(keras.callbacks.Callback):
    """Ramps the model's non-trainable `kl_weight` linearly from 0 to 1 over `epochs` epochs.

    At the start of epoch e (counted from 0, so `initial_epoch` and BackupAndRestore resume the
    ramp where it was) the weight is min(1, e / epochs): 0 in the first epoch, 1 from epoch
    `epochs` on. Starting with the reconstruction alone lets the decoder learn to use the code
    before the KL term pulls the posterior towards the prior (posterior collapse; Bowman et al.
    2016, Sønderby et al. 2016). The weight is also logged as `kl_weight`.
    """

    def __init__(self, epochs: int):
        super().__init__()
        if int(epochs) < 0:
            raise ValueError(f"epochs={epochs} must be >= 0")
        self.epochs = int(epochs)

    def weight(self, epoch: int) -> float:
        return 1.0 if self.epochs == 0 else min(1.0, epoch / self.epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_weight.assign(self.weight(epoch))

    # Validation measures the full objective (weight 1): otherwise val_loss would favour the
    # early warm-up epochs, and ModelCheckpoint / EarlyStopping would pick those.
    def on_test_begin(self, logs=None):
        self._training_weight = float(keras.ops.convert_to_numpy(self.model.kl_weight))
        self.model.kl_weight.assign(1.0)

    def on_test_end(self, logs=None):
        self.model.kl_weight.assign(self._training_weight)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["kl_weight"] = float(keras.ops.convert_to_numpy(self.model.kl_weight))


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
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text("".join(kept) if resume_epoch else "")
            tmp.replace(path)
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
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / ".best.tmp.keras"
        self.model.save(tmp)
        tmp.replace(self.directory / "best.keras")
        record_tmp = self.directory / ".best.json.tmp"
        record_tmp.write_text(json.dumps({"epoch": epoch, self.monitor: self.best}) + "\n")
        record_tmp.replace(self.record)
