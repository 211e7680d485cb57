"""`tfrecord:DIR` sources: a dataset prepared once into sharded TFRecord files, read lazily.

`python -m convae_tf.prepare` (data/prepare.py) writes the folder:

    DIR/metadata.json                      format, image shape, classes, per split: files,
                                           their image counts and byte sizes
    DIR/labels.npz                         train and test labels (labelled sets only)
    DIR/train-00000-of-00012.tfrecord ...  tf.train.Example records, in the split's fixed order
    DIR/test-00000-of-00003.tfrecord ...

Each record holds one image as raw uint8 bytes (H x W x C, row major: decoding is a reshape),
its position in the split ("index") and its label. Reading in file order gives the split in
the order of the source it was prepared from, so validation splits and cached train orders are
those of that source. The pipeline (data/pipeline.py) reads uncached train passes shard by
shard: the files shuffled by the pass seed, read a few at a time, then a bounded shuffle.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from convae_tf.data.source import Source, to_image
from convae_tf.errors import DataError

FORMAT = "convae_tf.records"
VERSION = 1
METADATA = "metadata.json"
LABELS = "labels.npz"
SPLITS = ("train", "test")
# Shards read at once in a shuffled pass: mixes that many files before the shuffle buffer.
READ_AT_ONCE = 8
PREPARE_HINT = "python -m convae_tf.prepare --dataset=SPEC --out=DIR"


def shard_name(split: str, shard: int, count: int) -> str:
    return f"{split}-{shard:05d}-of-{count:05d}.tfrecord"


def feature_spec(labelled: bool) -> dict:
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "index": tf.io.FixedLenFeature([], tf.int64),
    }
    if labelled:
        spec["label"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


@dataclasses.dataclass(frozen=True)
class Shards:
    """The train split's record files and how to read them: `records(files)` gives the parsed
    records of a dataset of file names ({"image": raw bytes, "index", "label"?}), `decode`
    turns records into examples."""

    files: tuple[str, ...]
    labelled: bool
    image_shape: tuple[int, int, int]
    size: tuple[int, int] | None

    def records(self, files: tf.data.Dataset, at_once: int = 1) -> tf.data.Dataset:
        """Records of `files`, `at_once` files read in turn (1: one after the other)."""
        parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
        if at_once == 1:
            serialized = files.flat_map(tf.data.TFRecordDataset)
        else:
            serialized = files.interleave(
                tf.data.TFRecordDataset, cycle_length=at_once, block_length=1, **parallel
            )
        spec = feature_spec(self.labelled)
        return serialized.map(lambda s: tf.io.parse_single_example(s, spec), **parallel)

    def decode(self, records: tf.data.Dataset) -> tf.data.Dataset:
        shape, size = self.image_shape, self.size

        def example(record):
            image = tf.reshape(tf.io.decode_raw(record["image"], tf.uint8), shape)
            out = {"image": to_image(image, size)}
            if "label" in record:
                out["label"] = record["label"]
            return out

        return records.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def load_records(spec: str, root: Path, size: tuple[int, int] | None) -> Source:
    metadata = read_metadata(root)
    image_shape = tuple(metadata["image_shape"])
    num_classes = metadata["num_classes"]
    labels = _read_labels(root, metadata) if num_classes is not None else None
    shards = {
        split: Shards(
            files=tuple(str(root / name) for name in metadata["splits"][split]["files"]),
            labelled=num_classes is not None,
            image_shape=image_shape,
            size=size,
        )
        for split in SPLITS
    }

    def in_order(split: str) -> tf.data.Dataset:
        return shards[split].records(tf.data.Dataset.from_tensor_slices(list(shards[split].files)))

    counts = {split: metadata["splits"][split]["count"] for split in SPLITS}
    train_refs = in_order("train").apply(tf.data.experimental.assert_cardinality(counts["train"]))
    test = shards["test"].decode(in_order("test"))
    return Source(
        spec=spec,
        image_shape=(*(size or image_shape[:2]), image_shape[2]),
        num_classes=num_classes,
        train=shards["train"].decode(train_refs),
        test=test.apply(tf.data.experimental.assert_cardinality(counts["test"])),
        num_train=counts["train"],
        num_test=counts["test"],
        train_labels=None if labels is None else tf.data.Dataset.from_tensor_slices(labels),
        train_refs=train_refs,
        decode=shards["train"].decode,
        shards=shards["train"],
    )


def read_metadata(root: Path) -> dict:
    """The checked metadata of a record folder; a one-line DataError for anything amiss."""
    if not root.is_dir():
        raise DataError(
            f"record folder {root} does not exist; check the path after 'tfrecord:', or "
            f"create it with {PREPARE_HINT}"
        )
    path = root / METADATA
    if not path.is_file():
        raise DataError(
            f"{root} has no {METADATA}, so it is not a prepared record folder; create one with "
            f"{PREPARE_HINT}"
        )
    try:
        metadata = json.loads(path.read_text())
        if metadata.get("format") != FORMAT:
            raise DataError(f"{path} is not convae_tf record metadata; {_REBUILD}")
        if metadata.get("version") != VERSION:
            raise DataError(
                f"{path} is record format version {metadata.get('version')}, this convae_tf "
                f"reads version {VERSION}; {_REBUILD}"
            )
        shape = [int(d) for d in metadata["image_shape"]]
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"image_shape {shape}")
        num_classes = metadata["num_classes"]
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"num_classes {num_classes}")
        for split in SPLITS:
            entry = metadata["splits"][split]
            if sum(int(c) for c in entry["counts"]) != int(entry["count"]) or entry["count"] < 1:
                raise ValueError(f"{split} counts")
            if not len(entry["files"]) == len(entry["counts"]) == len(entry["bytes"]):
                raise ValueError(f"{split} file lists")
    except DataError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:  # JSONDecodeError too
        raise DataError(
            f"{path} is corrupt ({type(error).__name__}: {error}); {_REBUILD}"
        ) from None
    for split in SPLITS:
        for name, size in zip(
            metadata["splits"][split]["files"], metadata["splits"][split]["bytes"], strict=True
        ):
            _check_file(root / name, int(size))
    return metadata


_REBUILD = f"prepare the folder again with {PREPARE_HINT}"


def _check_file(path: Path, size: int) -> None:
    # The size is the cheap check (a stat): it finds missing, truncated and replaced files at
    # load; a flipped byte inside a record is caught by its checksum while streaming.
    if not path.is_file():
        raise DataError(f"record file {path} is missing; {_REBUILD}")
    actual = path.stat().st_size
    if actual != size:
        raise DataError(
            f"record file {path} has {actual} bytes, metadata says {size} (truncated or "
            f"replaced); {_REBUILD}"
        )


def _read_labels(root: Path, metadata: dict) -> np.ndarray:
    path = root / LABELS
    try:
        with np.load(path) as stored:
            labels = stored["train"]
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"cannot read labels {path} ({type(error).__name__}); {_REBUILD}") from None
    if labels.shape != (metadata["splits"]["train"]["count"],):
        raise DataError(f"{path} does not match the train split's count; {_REBUILD}")
    return labels.astype(np.int64)
