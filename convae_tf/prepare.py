"""`python -m convae_tf.prepare` (console script `convae-prepare`): convert a dataset to
sharded TFRecord files once, then train on it with `--dataset=tfrecord:DIR`.
The work is done in `convae_tf/data/prepare.py`."""

import sys
import time

from ml_collections.config_dict import placeholder

from convae_tf import cli
from convae_tf.data import CHANNELS_HELP, records
from convae_tf.data.image_files import BAD_FILES
from convae_tf.data.prepare import DEFAULT_SHARD_MB, prepare_records
from convae_tf.errors import DataError

FIELDS: cli.Fields = {
    "dataset": (
        placeholder(str),
        "What to convert: folder:PATH, npz:PATH, idx:DIR, sprites or a TFDS name.",
    ),
    "out": (placeholder(str), "The record folder to create (must not exist yet)."),
    "shard_mb": (float(DEFAULT_SHARD_MB), "Most MiB of images per record file."),
    "image_size": (placeholder(tuple), "Resize every image to H,W (default: keep the size)."),
    "channels": (0, CHANNELS_HELP),
    "data_dir": (placeholder(str), "TFDS data directory (default: TFDS's own)."),
    "bad_files": (
        "stop",
        f"An unreadable image file: {' or '.join(BAD_FILES)} (skip drops it and counts it).",
    ),
}


def run() -> None:
    """`python -m convae_tf.prepare`."""
    prepare_config = cli.define_config_flags(FIELDS)

    def main(argv) -> None:
        del argv
        cfg = prepare_config.resolve()
        for required in ("dataset", "out"):
            if not cfg[required]:
                raise DataError(f"--{required} is required, e.g. {records.PREPARE_HINT}")
        started = time.time()
        metadata = prepare_records(
            cfg.dataset,
            cfg.out,
            shard_mb=cfg.shard_mb,
            image_size=cfg.image_size,
            channels=cfg.channels,
            data_dir=cfg.data_dir,
            bad_files=cfg.bad_files,
            verbose=True,
        )
        splits = metadata["splits"]
        print(
            f"prepare: wrote {cfg.out} in {time.time() - started:.0f} s: "
            + ", ".join(f"{s} {splits[s]['count']} images in {len(splits[s]['files'])} file(s)"
                        for s in records.SPLITS)
            + f"; train with --dataset=tfrecord:{cfg.out}",
            file=sys.stdout,
            flush=True,
        )  # fmt: skip

    cli.run(main)


if __name__ == "__main__":
    run()
