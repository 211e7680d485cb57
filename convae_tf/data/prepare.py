"""`python -m convae_tf.prepare`: any dataset spec -> a `tfrecord:DIR` folder, written once.

    python -m convae_tf.prepare --dataset=folder:photos --out=data/photos-records
    python -m convae_tf.train --dataset=tfrecord:data/photos-records

Reading records costs a reshape per image instead of a PNG/JPEG decode, and a large set is
then a few hundred files instead of millions. The splits, their order and the labels are the
source's own (see data/records.py for the layout). Images are stored as 8-bit values: exact for
image files, IDX, TFDS and uint8 npz; float npz arrays are rounded to 1/255.

The folder is written under a temporary name beside `--out` and renamed when complete, so an
interrupted run leaves no half folder under that name; an existing `--out` is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from convae_tf.data import records
from convae_tf.data.image_files import named_file_errors
from convae_tf.data.source import Source
from convae_tf.data.sources import load_source
from convae_tf.errors import DataError

DEFAULT_SHARD_MB = 64
_BATCH = 256  # images converted per step (the conversion is vectorised)


def prepare_records(
    spec: str,
    out: str | os.PathLike,
    *,
    shard_mb: float = DEFAULT_SHARD_MB,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    data_dir: str | None = None,
    bad_files: str = "stop",
    verbose: bool = False,
) -> dict:
    """Writes `spec`'s train and test splits to `out` as sharded TFRecords; returns the
    metadata. Shards hold at most `shard_mb` MiB of images (at least one image each).
    `image_size` and `channels` convert the images as training's flags of those names do."""
    out = Path(out).expanduser()
    if isinstance(shard_mb, bool) or not isinstance(shard_mb, (int, float)) or shard_mb <= 0:
        raise DataError(f"shard_mb={shard_mb!r} is invalid; use a positive number of MiB")
    if out.exists():
        raise DataError(f"{out} already exists; prepare never overwrites: pass a new --out folder")
    if not out.parent.is_dir():
        raise DataError(f"the parent folder of {out} does not exist; create it first")
    source = load_source(
        spec, data_dir=data_dir, image_size=image_size, channels=channels, bad_files=bad_files
    )
    per_shard = max(1, int(shard_mb * 2**20 // int(np.prod(source.image_shape))))
    partial = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        splits, labels = {}, {}
        with named_file_errors():
            for split in records.SPLITS:
                dataset = source.train if split == "train" else source.test
                total = source.num_train if split == "train" else source.num_test
                _say(verbose, f"prepare: writing the {split} split ({total} images)")
                splits[split], labels[split] = _write_split(
                    dataset, split, partial, per_shard, total, source.has_labels, verbose
                )
        metadata = _metadata(spec, source, splits)
        if source.has_labels:
            np.savez(partial / records.LABELS, **labels)
        (partial / records.METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
        os.rename(partial, out)  # fails rather than replace a folder created meanwhile
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if source.skipped is not None and source.skipped.summary():
        _say(verbose, f"prepare: {source.skipped.summary()}")
    return metadata


def _write_split(dataset, split, folder, per_shard, total, labelled, verbose):
    """Writes the split in its order; returns its metadata entry and its labels."""
    names, counts, labels = [], [], []
    writer, index = None, 0
    # verbose=2 (one line at the end) when the output is a log, as fit does.
    style = 1 if sys.stdout.isatty() else 2
    progress = keras.utils.Progbar(total, verbose=style, unit_name="image") if verbose else None
    try:
        for batch in dataset.batch(_BATCH).prefetch(2).as_numpy_iterator():
            # x/255 for 8-bit sources, so this rounds back to the exact stored byte.
            images = np.clip(np.rint(batch["image"] * 255.0), 0, 255).astype(np.uint8)
            for i, image in enumerate(images):
                if writer is None or counts[-1] == per_shard:
                    if writer is not None:
                        writer.close()
                    names.append(folder / f"{split}-{len(names):05d}.tmp")
                    counts.append(0)
                    writer = tf.io.TFRecordWriter(str(names[-1]))
                feature = {
                    "image": _bytes(image.tobytes()),
                    "index": _int(index),
                }
                if labelled:
                    feature["label"] = _int(int(batch["label"][i]))
                    labels.append(int(batch["label"][i]))
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
                counts[-1] += 1
                index += 1
            if progress is not None:
                progress.update(min(index, total))
    finally:
        if writer is not None:
            writer.close()
    if index == 0:
        raise DataError(f"the {split} split has no readable images; nothing to prepare")
    # Final names say how many shards there are, as TFDS's do (known only at the end).
    final = [records.shard_name(split, i, len(names)) for i in range(len(names))]
    for tmp, name in zip(names, final, strict=True):
        tmp.rename(folder / name)
    entry = {
        "count": index,
        "files": final,
        "counts": counts,
        "bytes": [(folder / name).stat().st_size for name in final],
    }
    return entry, np.asarray(labels, np.int64)


def _metadata(spec: str, source: Source, splits: dict) -> dict:
    return {
        "format": records.FORMAT,
        "version": records.VERSION,
        "source": spec,
        "image_shape": list(source.image_shape),
        "num_classes": source.num_classes,
        "encoding": "uint8, H x W x C row major",
        "splits": splits,
    }


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _say(verbose: bool, line: str) -> None:
    if verbose:
        print(line, flush=True)
