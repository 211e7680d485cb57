"""Export the latent codes of a split: one row per example, in the split's order (a run trained
on crops: one row per fixed crop, the crops of one image in a row, each with its image's label).

    python -m convae_tf.embed --workdir=runs/ae-sprites --split=test --output=codes.npz

The .npz holds `codes` (float32, N × latent_dim; for the VAE the posterior means), `labels`
(int64, N; only when the dataset has labels), and `split`, `dataset`, `model` (strings).
Load it with `numpy.load(path)`: no pickled objects.
"""

from __future__ import annotations

from pathlib import Path

import ml_collections
import numpy as np
import tensorflow as tf
from ml_collections.config_dict import placeholder

from convae_tf import cli, errors
from convae_tf.artifacts import run_folder
from convae_tf.evaluation import splits
from convae_tf.utils import files

# name: (default, help); the flags of the CLI are made from it.
FIELDS: cli.Fields = {
    "split": ("test", f"Split to embed: {', '.join(splits.SPLITS)}."),
    "dataset": (placeholder(str), "Dataset spec (default: the run's own)."),
    "data_dir": (placeholder(str), "TFDS data directory (default: the run's own)."),
}


def get_config() -> ml_collections.ConfigDict:
    """The embedding defaults, a new ConfigDict on every call."""
    return cli.config_from_fields(FIELDS)


def embed(workdir, output, batch_size: int = 256, **options) -> dict[str, np.ndarray]:
    """Writes the codes of a split to `output` (atomically) and returns the saved arrays.
    `options`: fields of `get_config()` to change (split, dataset, data_dir)."""
    cli.check_fields(options, FIELDS, "embed()")
    config = get_config()
    config.update(options)
    split = config.split
    if split not in splits.SPLITS:
        raise errors.ConfigError(
            f"--split={split!r} is not valid; choose one of {', '.join(splits.SPLITS)}"
        )
    output = Path(output)
    if output.suffix != ".npz":
        raise errors.ConfigError(f"--output={output} must end in .npz")
    run = run_folder.load_run(workdir)
    source = splits.load_source(run, config.dataset, config.data_dir)
    codes, labels = [], []
    # Streamed batch by batch: a large train split never sits in memory as images.
    for batch in splits.split_examples(run, source, split).batch(batch_size).as_numpy_iterator():
        codes.append(np.asarray(run.model.code(tf.constant(batch["image"]))))
        if "label" in batch:
            labels.append(batch["label"])
    if not codes:
        raise errors.ConfigError(f"the {split} split of {source.spec!r} holds no example")
    arrays = {
        "codes": np.concatenate(codes).astype(np.float32),
        "split": np.array(split),
        "dataset": np.array(source.spec),
        "model": np.array(run.train.get("model", "")),
    }
    if labels:
        arrays["labels"] = np.concatenate(labels).astype(np.int64)
    with files.atomic_path(output) as tmp:  # tmp ends in .npz too: numpy appends no second one
        np.savez(tmp, **arrays)
    return arrays
