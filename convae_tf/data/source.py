"""`Source`, the common form of every dataset, and helpers shared by the loaders."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from convae_tf.data import ops

SPEC_FORMS = (
    "valid dataset specs: 'sprites' or 'sprites/64' (embedded), a TFDS name such as 'mnist', "
    "'fashion_mnist', 'cifar10', 'name/config' or 'name:version', 'npz:PATH', 'folder:PATH', "
    "'idx:DIR' or 'tfrecord:DIR' (made by python -m convae_tf.prepare)"
)
MAX_CHANNELS = 4


@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset's train and test splits in a fixed order, before any batching.

    Elements are `{"image": float32 [H, W, C] in [0, 1], "label": int64 []}`; "label" is
    present only when `num_classes` is not None. A folder: loaded for crops may hold images of
    any size: `image_shape` is then (None, None, C) and the images are uint8 as decoded (the
    pipeline crops them before converting).
    """

    spec: str
    image_shape: tuple[int | None, int | None, int]
    num_classes: int | None
    train: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_test: int
    # The labels of `train` alone, same order, without decoding images: lets the pipeline count
    # the examples of some classes cheaply. None when unlabelled (or not provided).
    train_labels: tf.data.Dataset | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    # Sources read lazily from files (folder:): the train split as light references (path and
    # label) in the same order, and `decode` (references -> examples, a dataset transformation),
    # so that the pipeline filters and shuffles references instead of decoded images. `train`
    # is `decode(train_refs)`. None for in-memory and TFDS sources.
    train_refs: tf.data.Dataset | None = dataclasses.field(default=None, repr=False, compare=False)
    decode: Callable[[tf.data.Dataset], tf.data.Dataset] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    # `image_files.SkippedFiles`, with bad_files="skip" only: the unreadable files skipped so far.
    skipped: Any = dataclasses.field(default=None, repr=False, compare=False)
    # `records.Shards`, for tfrecord: sources only: the train split's record files, so that an
    # uncached train pass reads them shard by shard (a full shuffle of the records would hold
    # the whole split in memory). `train_refs` are then the parsed, undecoded records.
    shards: Any = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def has_labels(self) -> bool:
        return self.num_classes is not None

    @property
    def streams_files(self) -> bool:
        return self.train_refs is not None

    def decoded(self, refs: tf.data.Dataset) -> tf.data.Dataset:
        """Examples of `refs` (a selection of `train_refs`, or of `train` when not streamed)."""
        return self.decode(refs) if self.streams_files else refs


def from_arrays(
    spec: str,
    x_train: np.ndarray,
    x_test: np.ndarray,
    y_train: np.ndarray | None,
    y_test: np.ndarray | None,
    num_classes: int | None,
    size: tuple[int, int] | None,
) -> Source:
    """In-memory N x H x W x C arrays -> Source; uint8 arrays stay uint8 in memory (4x smaller
    than float32) and are converted in the map."""

    def dataset(x, y):
        elements = {"image": x} if y is None else {"image": x, "label": y.astype(np.int64)}

        def convert(example):
            return {**example, "image": to_image(example["image"], size)}

        return tf.data.Dataset.from_tensor_slices(elements).map(
            convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    labels = (
        None if y_train is None else tf.data.Dataset.from_tensor_slices(y_train.astype(np.int64))
    )
    return Source(
        spec=spec,
        image_shape=(*(size or x_train.shape[1:3]), x_train.shape[3]),
        num_classes=num_classes,
        train=dataset(x_train, y_train),
        test=dataset(x_test, y_test),
        num_train=len(x_train),
        num_test=len(x_test),
        train_labels=labels,
    )


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def to_image(image: tf.Tensor, size: tuple[int, int] | None) -> tf.Tensor:
    image = ops.to_unit_float(image)
    return ops.resize(image, size) if size is not None else image


def dims(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


def any_size(image_shape: Sequence[int | None]) -> bool:
    """Whether the images of this shape may differ in size ((None, None, C))."""
    return None in tuple(image_shape)[:2]
