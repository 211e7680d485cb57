"""The Keras weights of an exported model, so that a run can start from it (`--init_from`).

A SavedModel stores the variables its signatures use without their Keras names (keys
`_all_variables/<i>`, numbered as the signatures happened to capture them). The export
therefore writes `keras_weights.json` beside it: for each of the model's variables in
`model.variables` order, its Keras path, shape and the checkpoint key holding its value (null for a
variable that no signature uses, such as a noise layer's seed). A fine-tune from a shipped model
then needs neither its training run nor a second copy of its weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from convae_tf.errors import ConfigError
from convae_tf.utils.files import save_json

INDEX_FILE = "keras_weights.json"
FORMAT = 1


def checkpoint_prefix(version_dir: Path) -> str:
    return str(Path(version_dir) / "variables" / "variables")


def write_index(model: keras.Model, version_dir: Path) -> None:
    """Writes `keras_weights.json` into `version_dir`, a SavedModel just written from `model`.

    Each saved value is matched to the model variable it equals exactly (same shape, dtype and
    values: the SavedModel was written from these very variables); two variables that are equal
    are interchangeable, so an ambiguity cannot load a wrong value."""
    reader = tf.train.load_checkpoint(checkpoint_prefix(version_dir))
    saved = {
        key: reader.get_tensor(key)
        for key in reader.get_variable_to_shape_map()
        if key.endswith("/.ATTRIBUTES/VARIABLE_VALUE")
    }
    entries = []
    for variable in model.variables:
        value = keras.ops.convert_to_numpy(variable)
        key = next(
            (
                key
                for key, stored in saved.items()
                if stored.shape == value.shape
                and stored.dtype == value.dtype
                and np.array_equal(stored, value)
            ),
            None,
        )
        if key is not None:
            del saved[key]
        entries.append({"path": variable.path, "shape": list(value.shape), "key": key})
    save_json({"format": FORMAT, "variables": entries}, Path(version_dir) / INDEX_FILE)


def version_dir(path: Path) -> Path | None:
    """The exported version folder that `path` names: `path` if it holds a SavedModel, else its
    highest-numbered version folder (as TF Serving reads `NAME/<version>/`); None if it is no
    export. The same rule as deploy/predict.py's, which imports nothing of the package."""
    if (path / "saved_model.pb").is_file():
        return path
    versions = [
        p
        for p in (path.iterdir() if path.is_dir() else ())
        if p.name.isdigit() and (p / "saved_model.pb").is_file()
    ]
    return max(versions, key=lambda p: int(p.name), default=None)


def signature(path: str, shape) -> tuple:
    return path.rsplit("/", 1)[-1], tuple(shape)


def load(model: keras.Model, path: Path) -> int:
    """Sets `model`'s variables to those exported in `path` (a version folder or its parent),
    a model of the same architecture; returns how many trainable variables kept their own
    values (used by no signature of the export). A ConfigError names what does not fit."""
    folder = version_dir(Path(path)) or Path(path)
    try:
        entries = json.loads((folder / INDEX_FILE).read_text())["variables"]
        saved = [signature(e["path"], e["shape"]) for e in entries]
        keys = [e["key"] for e in entries]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(
            f"--init_from={folder}: the export has no readable {INDEX_FILE} (older exports lack "
            "it); export its training run again, or give that run's workdir"
        ) from None
    variables = model.variables
    # Compared by kind and shape in order: the paths' model and layer names carry the numbers
    # that Keras adds to names repeated in one process ("conv_ae_1/...").
    if saved != [signature(v.path, v.shape) for v in variables]:
        raise ConfigError(
            f"--init_from={folder} could not be loaded into this model (its weights are those "
            "of another architecture); give the --model, --model_args, --latent_dim and image "
            f"channels of {folder / 'config.json'}"
        )
    try:
        reader = tf.train.load_checkpoint(checkpoint_prefix(folder))
        values = [key and reader.get_tensor(key) for key in keys]
    except Exception as error:  # missing, truncated or foreign files: TF raises many kinds
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ConfigError(
            f"--init_from={folder}: its variables/ cannot be read ({reason}); export the model "
            "again"
        ) from None
    kept = 0
    for variable, value in zip(variables, values, strict=True):
        if value is not None:
            variable.assign(value)
        else:
            kept += variable.trainable
    return kept
