"""Export the latent codes of a split: one row per example, in the split's order.

    python -m convae_tf.embed --workdir=runs/ae-sprites --split=test --output=codes.npz

The .npz holds `codes` (float32, N × latent_dim; for the VAE the posterior means), `labels`
(int64, N; only when the dataset has labels), and `split`, `dataset`, `model` (strings).
Load it with `numpy.load(path)`: no pickled objects.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from convae_tf import cli, errors
from convae_tf.evaluation import splits
from convae_tf.training import run_folder


def embed(
    workdir,
    output,
    split: str = "test",
    dataset: str | None = None,
    data_dir: str | None = None,
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Writes the codes of `split` to `output` (atomically) and returns the saved arrays."""
    if split not in splits.SPLITS:
        raise errors.ConfigError(
            f"--split={split!r} is not valid; choose one of {', '.join(splits.SPLITS)}"
        )
    output = Path(output)
    if output.suffix != ".npz":
        raise errors.ConfigError(f"--output={output} must end in .npz")
    run = run_folder.load_run(workdir)
    source = splits.load_source(run, dataset, data_dir)
    codes, labels = [], []
    # Streamed batch by batch: a large train split never sits in memory as images.
    for batch in splits.split_examples(run, source, split).batch(batch_size).as_numpy_iterator():
        codes.append(np.asarray(splits.codes_of(run.model, tf.constant(batch["image"]))))
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
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    with open(tmp, "wb") as f:  # a file object: numpy appends no second ".npz"
        np.savez(f, **arrays)
    os.replace(tmp, output)
    return arrays


def main(argv) -> None:
    del argv
    from absl import flags

    values = flags.FLAGS
    arrays = embed(values.workdir, values.output, values.split, values.dataset, values.data_dir)
    rows, width = arrays["codes"].shape
    print(
        f"[convae_tf] wrote {rows} codes of dimension {width} "
        f"({'with' if 'labels' in arrays else 'without'} labels) to {values.output}",
        flush=True,
    )


def run() -> None:
    # Flags are defined here, not on import (see evaluate._define_flags).
    from absl import flags

    flags.DEFINE_string("workdir", None, "Folder of a finished training run.", required=True)
    flags.DEFINE_enum("split", "test", splits.SPLITS, "Split to embed.")
    flags.DEFINE_string("output", None, "Output .npz file.", required=True)
    flags.DEFINE_string("dataset", None, "Dataset spec (default: the run's own).")
    flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the run's own).")
    cli.run(main)


if __name__ == "__main__":
    run()
