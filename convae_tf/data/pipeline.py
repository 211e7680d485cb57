"""`Source` -> batched train / validation / test pipelines of images only."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from convae_tf.data.source import Source
from convae_tf.errors import DataError


@dataclasses.dataclass(frozen=True)
class Pipelines:
    train: tf.data.Dataset  # float32 [B, H, W, C]; seeded shuffle, new order every epoch
    validation: tf.data.Dataset  # same, fixed order
    test: tf.data.Dataset  # same, fixed order
    image_shape: tuple[int, int, int]
    num_train: int
    num_validation: int
    # What `epochs` needs to rebuild the train order of any epoch.
    train_images: tf.data.Dataset | None = None  # cached, unshuffled, unbatched
    batch_size: int = 0
    seed: int = 0
    drop_remainder: bool = False

    @property
    def steps_per_pass(self) -> int:
        """Batches in one pass over the train split."""
        if self.drop_remainder:
            return self.num_train // self.batch_size
        return -(-self.num_train // self.batch_size)

    def epochs(self, first: int, last: int, steps_per_epoch: int | None = None) -> tf.data.Dataset:
        """Train batches of epochs `first` .. `last - 1` as one stream, for `fit` with
        `steps_per_epoch` (default: one pass per epoch).

        Epoch e's order depends on (seed, e) alone, not on how many epochs this process has
        run before: a run resumed at epoch e (BackupAndRestore) sees exactly the batches that
        an uninterrupted run would, so with op determinism it ends with the same weights.
        An epoch longer than a pass continues into further passes, each with its own order.
        One spare epoch at the end means a run that resumes an epoch earlier than expected
        (a backup that fell back to its previous copy) cannot run out of data.
        """
        steps = steps_per_epoch or self.steps_per_pass
        passes_per_epoch = -(-steps // self.steps_per_pass)
        epochs = []
        for epoch in range(first, last + 1):
            passes = [self._pass(epoch, index) for index in range(passes_per_epoch)]
            epochs.append(functools.reduce(tf.data.Dataset.concatenate, passes).take(steps))
        stream = functools.reduce(tf.data.Dataset.concatenate, epochs)
        return stream.prefetch(tf.data.AUTOTUNE)

    def _pass(self, epoch: int, index: int) -> tf.data.Dataset:
        # Python-int seeds, fixed at build time (a tensor seed trips TF's seed logic when
        # the global seed is 0). A large odd multiplier keeps (seed, epoch, pass) distinct;
        # the buffer spans the split, so each pass is a uniform permutation.
        pass_seed = ((self.seed * 1_000_003 + epoch) * 1_009 + index) % (1 << 31)
        shuffled = self.train_images.shuffle(self.num_train, seed=pass_seed)
        return shuffled.batch(self.batch_size, drop_remainder=self.drop_remainder)


def make_pipelines(
    source: Source,
    *,
    batch_size: int,
    seed: int = 0,
    validation_fraction: float = 0.1,
    normal_classes: Sequence[int] | None = None,
    drop_remainder: bool = False,
) -> Pipelines:
    """Splits `source.train` into train and validation and batches all three splits.

    Validation is the first `validation_fraction` of the (filtered) train split in its fixed
    order, at least one example. `normal_classes` keeps only those labels in train and
    validation (one-class anomaly detection): the test split stays whole, anomalies included.
    `drop_remainder` drops each split's last partial batch: tf.distribute may hand a replica an
    empty slice of a partial batch, which TF's oneDNN convolutions reject.
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise DataError(f"batch_size={batch_size!r} is invalid; use a positive integer")
    batch_size = int(batch_size)
    if not isinstance(validation_fraction, (int, float)) or not 0.0 < validation_fraction < 1.0:
        raise DataError(
            f"validation_fraction={validation_fraction!r} is invalid; use a number in (0, 1)"
        )
    examples, total = source.train, source.num_train
    if normal_classes is not None:
        keep = _check_classes(source, normal_classes)
        total = _count_classes(source, keep)
        if total == 0:
            raise DataError(
                f"{source.spec!r} has no training examples of normal_classes {list(keep)}; "
                "choose classes that occur in the train split"
            )
        keep_tensor = tf.constant(keep, tf.int64)
        examples = examples.filter(
            lambda ex: tf.reduce_any(tf.equal(ex["label"], keep_tensor))
        ).apply(tf.data.experimental.assert_cardinality(total))
    if total < 2:
        raise DataError(
            f"{source.spec!r} has {total} training example(s); need at least 2 to split off a "
            "validation set"
        )
    num_validation = min(total - 1, max(1, int(total * validation_fraction)))
    num_train = total - num_validation
    train_images = _images(examples.skip(num_validation)).cache()
    train = (
        train_images.shuffle(num_train, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=drop_remainder)
        .prefetch(tf.data.AUTOTUNE)
    )
    return Pipelines(
        train=train,
        validation=_fixed(examples.take(num_validation), batch_size, drop_remainder),
        test=_fixed(source.test, batch_size, drop_remainder),
        image_shape=source.image_shape,
        num_train=num_train,
        num_validation=num_validation,
        train_images=train_images,
        batch_size=batch_size,
        seed=seed,
        drop_remainder=drop_remainder,
    )


def _images(ds: tf.data.Dataset) -> tf.data.Dataset:
    return ds.map(lambda ex: ex["image"], num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _fixed(ds: tf.data.Dataset, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
    batched = _images(ds).cache().batch(batch_size, drop_remainder=drop_remainder)
    return batched.prefetch(tf.data.AUTOTUNE)


def _check_classes(source: Source, normal_classes: Sequence[int]) -> tuple[int, ...]:
    if not source.has_labels:
        raise DataError(
            f"normal_classes needs labels, but {source.spec!r} has none; drop normal_classes "
            "or use a labelled dataset (e.g. class subfolders with folder:)"
        )
    classes = list(normal_classes)
    if not classes:
        raise DataError("normal_classes is empty; name at least one class id, or pass None")
    bad = [
        c
        for c in classes
        if isinstance(c, bool)
        or not isinstance(c, (int, np.integer))
        or not 0 <= c < source.num_classes
    ]
    if bad:
        raise DataError(
            f"normal_classes {bad} out of range: {source.spec!r} has class ids 0 to "
            f"{source.num_classes - 1}"
        )
    return tuple(sorted({int(c) for c in classes}))


def _count_classes(source: Source, keep: tuple[int, ...]) -> int:
    """Counts the train examples in `keep` from the labels alone (no image decoding)."""
    labels = source.train_labels
    if labels is None:
        labels = source.train.map(lambda ex: ex["label"])
    return sum(
        int(np.isin(batch, keep).sum()) for batch in labels.batch(1 << 16).as_numpy_iterator()
    )
