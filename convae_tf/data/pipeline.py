"""`Source` -> batched train / validation / test pipelines of images only."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from convae_tf.data import binarize as binarization
from convae_tf.data import crops, records
from convae_tf.data.options import PipelineOptions
from convae_tf.data.source import Source, any_size, dims
from convae_tf.errors import DataError

_DEFAULTS = PipelineOptions()
# The defaults under their former names (exported by convae_tf.data).
DEFAULT_SHUFFLE_BUFFER = _DEFAULTS.shuffle_buffer
DEFAULT_CACHE_BUDGET_MB = _DEFAULTS.cache_budget_mb


@dataclasses.dataclass(frozen=True)
class Pipelines:
    train: tf.data.Dataset  # float32 [B, H, W, C]; seeded shuffle, new order every epoch
    validation: tf.data.Dataset  # same, fixed order
    test: tf.data.Dataset  # same, fixed order; never cached (read once per evaluation)
    image_shape: tuple[int, int, int]  # of what the splits hold: the crop's with `crop`
    num_train: int  # what a train pass holds: images, or crops (images x crops_per_image)
    num_validation: int  # validation images, or their crops
    # What `epochs` needs to rebuild the train order of any epoch: (seed, worker) -> the train
    # images (unbatched) in the order of that shuffle seed, one worker's share of them when
    # `worker` is (count, index) (see `_train_order`).
    shuffled_images: Callable[..., tf.data.Dataset] | None = None
    batch_size: int = 0
    seed: int = 0
    drop_remainder: bool = False
    # Files may be skipped while streaming (bad_files=skip), so a pass may come up short.
    spare_pass: bool = False
    # Dynamic binarisation (data/binarize.py): every pass draws its own binary images.
    binarize: bool = False
    # Crops taken of each image (data/crops.py); 1 when the splits hold whole images.
    crops_per_image: int = 1

    @property
    def steps_per_pass(self) -> int:
        """Batches in one pass over the train split."""
        if self.drop_remainder:
            return self.num_train // self.batch_size
        return -(-self.num_train // self.batch_size)

    def epochs(
        self,
        first: int,
        last: int,
        steps_per_epoch: int | None = None,
        worker: tuple[int, int] | None = None,
        batch_size: int | None = None,
    ) -> tf.data.Dataset:
        """Train batches of epochs `first` .. `last - 1` as one stream, for `fit` with
        `steps_per_epoch` (default: one pass per epoch).

        Epoch e's order depends on (seed, e) alone, not on how many epochs this process has
        run before: a run resumed at epoch e (BackupAndRestore) sees exactly the batches that
        an uninterrupted run would, so with op determinism it ends with the same weights.
        An epoch longer than a pass continues into further passes, each with its own order.
        One spare epoch at the end means a run that resumes an epoch earlier than expected
        (a backup that fell back to its previous copy) cannot run out of data.

        `worker=(count, index)`: the stream of one of `count` input workers (multi-worker
        training), in batches of `batch_size` (its share of the global batch). Each pass, the
        workers read disjoint parts of the train split that together make the whole: record
        files when there are at least `count` of them, files of a folder: source, otherwise
        elements. With element sharding the workers' batches together are exactly the global
        batches of a single process.
        """
        steps = steps_per_epoch or self.steps_per_pass
        # A spare pass per epoch (read only if needed) keeps every epoch `steps` long when
        # skipped files shorten a pass, or a worker's share of the files is a little smaller,
        # so epochs still start where an uninterrupted run's do.
        passes_per_epoch = -(-steps // self.steps_per_pass) + (self.spare_pass or bool(worker))
        epochs = []
        for epoch in range(first, last + 1):
            passes = [
                self._pass(epoch, index, worker, batch_size) for index in range(passes_per_epoch)
            ]
            epochs.append(functools.reduce(tf.data.Dataset.concatenate, passes).take(steps))
        stream = functools.reduce(tf.data.Dataset.concatenate, epochs)
        return stream.prefetch(tf.data.AUTOTUNE)

    def _pass(self, epoch: int, index: int, worker=None, batch_size=None) -> tf.data.Dataset:
        # Python-int seeds, fixed at build time (a tensor seed trips TF's seed logic when
        # the global seed is 0). A large odd multiplier keeps (seed, epoch, pass) distinct.
        pass_seed = ((self.seed * 1_000_003 + epoch) * 1_009 + index) % (1 << 31)
        shuffled = self.shuffled_images(pass_seed, worker)
        if self.binarize:
            shuffled = binarization.drawn(shuffled, pass_seed, worker)
        batches = shuffled.batch(batch_size or self.batch_size, drop_remainder=self.drop_remainder)
        # A worker's pass ends where a single process's would: with element sharding, the
        # batches of one worker's longer share would otherwise run into the next pass's.
        return batches.take(self.steps_per_pass) if worker else batches


def make_pipelines(
    source: Source,
    *,
    batch_size: int,
    seed: int = 0,
    validation_fraction: float = _DEFAULTS.validation_fraction,
    normal_classes: Sequence[int] | None = None,
    drop_remainder: bool = False,
    shuffle_buffer: int = _DEFAULTS.shuffle_buffer,
    cache_budget_mb: float = _DEFAULTS.cache_budget_mb,
    binarize: bool = _DEFAULTS.binarize,
    crop: tuple[int, int] | None = _DEFAULTS.crop,
    crops_per_image: int = _DEFAULTS.crops_per_image,
) -> Pipelines:
    """Splits `source.train` into train and validation and batches all three splits.

    Validation is the first `validation_fraction` of the (filtered) train split in its fixed
    order, at least one example. `normal_classes` keeps only those labels in train and
    validation (one-class anomaly detection): the test split stays whole, anomalies included.
    `drop_remainder` drops each split's last partial batch: tf.distribute may hand a replica an
    empty slice of a partial batch, which TF's oneDNN convolutions reject. `binarize`: dynamic
    binarisation (data/binarize.py): train images drawn afresh each pass, validation and test
    binarised once with fixed seeds.

    `crop=(H, W)`: the splits hold crops (data/crops.py), `crops_per_image` of each image: the
    train crops drawn afresh each pass from (seed, epoch) and shuffled in a buffer of at most
    `shuffle_buffer` crops, validation and test crops fixed. Needed for a source of images of
    any size (a folder: loaded with `crop`).

    Memory: validation, then train, are cached in memory, decoded, while their float32 size
    fits what is left of `cache_budget_mb`; a split that does not fit is read again on every
    pass. The test split is read once per evaluation, so it is not cached. With crops, the
    validation crops are cached within the budget; the train split never is (its crops change
    every pass, and whole photos are never kept). The train order is a full seeded permutation
    whenever the split is cached or streamed from image files; a record source (tfrecord:) too
    large to cache is read shard by shard (`_record_order`); otherwise (TFDS, in-memory arrays)
    the shuffle holds at most `shuffle_buffer` decoded images.
    """
    batch_size = _checked_batch_size(batch_size)
    options = PipelineOptions(
        validation_fraction, shuffle_buffer, cache_budget_mb, binarize, crop, crops_per_image
    ).validate()
    image_shape = split_shape(source, options.crop)
    per_image = crops_per_image if crop else 1
    examples, total, keep = _kept_examples(source, normal_classes)
    num_validation = _validation_size(source, total, validation_fraction)
    num_train = total - num_validation
    budget = CacheBudget(cache_budget_mb, image_shape)
    validation = _fixed(
        _split_images(source.decoded(examples.take(num_validation)), "validation", options),
        budget.fits(num_validation * per_image),
        batch_size,
        drop_remainder,
    )
    shuffled_images = _train_images(
        source, examples, keep, num_validation, num_train, budget, options
    )
    first_pass = shuffled_images(seed)
    if binarize:
        first_pass = binarization.drawn(first_pass, seed)
    train = first_pass.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    return Pipelines(
        train=train,
        validation=validation,
        test=_fixed(_split_images(source.test, "test", options), False, batch_size, drop_remainder),
        image_shape=image_shape,
        num_train=num_train * per_image,
        num_validation=num_validation * per_image,
        shuffled_images=shuffled_images,
        batch_size=batch_size,
        seed=seed,
        drop_remainder=drop_remainder,
        spare_pass=source.skipped is not None,
        binarize=bool(binarize),
        crops_per_image=per_image,
    )


def split_shape(source: Source, crop: tuple[int, int] | None) -> tuple[int, int, int]:
    """The shape of what the splits of `source` hold: its images, or their crops; a DataError
    when they cannot hold crops of that size, or need them."""
    *height_width, channels = source.image_shape
    if crop is None:
        if any_size(source.image_shape):
            raise DataError(
                f"{source.spec!r} has images of different sizes; pass crop=(H, W) (--crop) "
                "to train on crops of them"
            )
        return tuple(source.image_shape)
    crop = (int(crop[0]), int(crop[1]))
    if not any_size(source.image_shape) and (
        crop[0] > height_width[0] or crop[1] > height_width[1]
    ):
        raise DataError(
            f"crop={crop} is larger than the {dims(height_width)} images of {source.spec!r}; "
            f"pass a crop of at most {dims(height_width)}"
        )
    return (*crop, channels)


def _train_images(
    source: Source,
    examples: tf.data.Dataset,
    keep: tuple[int, ...] | None,
    num_validation: int,
    num_train: int,
    budget: CacheBudget,
    options: PipelineOptions,
) -> Callable[..., tf.data.Dataset]:
    """(seed, worker=None) -> one pass of train images, or of their crops (see `_train_order`).
    A train split cropped afresh every pass is never cached."""
    cache_train = options.crop is None and budget.fits(num_train)
    if source.shards is not None and not cache_train:
        first = _first_train_index(source, keep, num_validation)
        order = _record_order(source, keep, first, options.shuffle_buffer)
    else:
        order = _train_order(
            source, examples.skip(num_validation), num_train, cache_train, options.shuffle_buffer
        )
    if options.crop is None:
        return order
    crop, count = tuple(options.crop), options.crops_per_image
    buffer = min(int(options.shuffle_buffer), num_train * count)
    return lambda seed, worker=None: crops.drawn(
        order(seed, worker), seed, crop, count, buffer, worker
    )


def _checked_batch_size(batch_size) -> int:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise DataError(f"batch_size={batch_size!r} is invalid; use a positive integer")
    return int(batch_size)


def _kept_examples(
    source: Source, normal_classes: Sequence[int] | None
) -> tuple[tf.data.Dataset, int, tuple[int, ...] | None]:
    """(train examples in their fixed order, their count, the kept classes): those of
    `normal_classes` only when given (their count from the labels alone), else all."""
    # For a source streamed from files these are references (paths, labels): filtering,
    # splitting and shuffling them decodes nothing.
    examples = source.train_refs if source.streams_files else source.train
    if normal_classes is None:
        return examples, source.num_train, None
    keep = _check_classes(source, normal_classes)
    total = _count_classes(source, keep)
    if total == 0:
        raise DataError(
            f"{source.spec!r} has no training examples of normal_classes {list(keep)}; "
            "choose classes that occur in the train split"
        )
    keep_tensor = tf.constant(keep, tf.int64)
    examples = examples.filter(lambda ex: tf.reduce_any(tf.equal(ex["label"], keep_tensor))).apply(
        tf.data.experimental.assert_cardinality(total)
    )
    return examples, total, keep


def _validation_size(source: Source, total: int, validation_fraction: float) -> int:
    """Examples held out for validation: the fraction, at least one, leaving one to train on."""
    if total < 2:
        raise DataError(
            f"{source.spec!r} has {total} training example(s); need at least 2 to split off a "
            "validation set"
        )
    return min(total - 1, max(1, int(total * validation_fraction)))


class CacheBudget:
    """Memory for in-memory caches, handed out split by split while it lasts."""

    def __init__(self, megabytes: float, image_shape: Sequence[int]):
        self.left = float(megabytes) * 2**20
        self.image_bytes = 4 * int(np.prod(image_shape))  # float32, as the pipeline holds them

    def fits(self, count: int) -> bool:
        """Whether `count` images fit in what is left; if so, they take their share."""
        need = count * self.image_bytes
        if need > self.left:
            return False
        self.left -= need
        return True


def _train_order(
    source: Source, examples: tf.data.Dataset, num_train: int, cache: bool, shuffle_buffer: int
) -> Callable[..., tf.data.Dataset]:
    """(seed, worker=None) -> the train images (unbatched) in that seed's order, the cheapest
    way memory allows. The order depends on the seed alone, never on what this process read
    before. A worker (count, index) takes every count-th image of that order, from `index`.

    Cached: decoded once into memory, each pass a shuffle of the whole split (the buffer holds
    the cache's own tensors). Streamed from files: each pass shuffles the whole list of file
    references (a few bytes each), then decodes (a worker decodes only its own files); a
    shuffle permutes by seed and count alone, so this is the same order as the cached one.
    Otherwise (TFDS, in-memory arrays): a shuffle buffer of at most `shuffle_buffer` decoded
    images.
    """
    if cache:
        cached = _images(source.decoded(examples)).cache()
        return lambda seed, worker=None: _share(cached.shuffle(num_train, seed=seed), worker)
    if source.streams_files:
        return lambda seed, worker=None: _images(
            source.decode(_share(examples.shuffle(num_train, seed=seed), worker))
        )
    images = _images(examples)
    buffer = min(num_train, int(shuffle_buffer))
    return lambda seed, worker=None: _share(images.shuffle(buffer, seed=seed), worker)


def _record_order(
    source: Source, keep: tuple[int, ...] | None, first_index: int, shuffle_buffer: int
) -> Callable[..., tf.data.Dataset]:
    """(seed, worker=None) -> the train images of a record source too large to cache.

    A full shuffle would hold every record in memory, so each pass shuffles the record files
    by the seed, reads `records.READ_AT_ONCE` of them in turn and shuffles that stream in a
    buffer of `shuffle_buffer` records (as TFDS reads its own shards). The validation records
    (`index` below `first_index` in the fixed order) and other classes are skipped as read.
    A worker reads only its own files when there are enough, else every count-th record.
    """
    shards = source.shards
    files = list(shards.files)

    def train_record(record):
        wanted = record["index"] >= first_index
        if keep is not None:
            wanted &= tf.reduce_any(tf.equal(record["label"], tf.constant(keep, tf.int64)))
        return wanted

    def order(seed: int, worker: tuple[int, int] | None = None) -> tf.data.Dataset:
        shuffled_files = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        by_file = worker is not None and len(files) >= worker[0]
        if by_file:
            shuffled_files = _share(shuffled_files, worker)
        at_once = min(len(files), records.READ_AT_ONCE)
        train = shards.records(shuffled_files, at_once).filter(train_record)
        train = train.shuffle(int(shuffle_buffer), seed=seed)
        return _images(shards.decode(train if by_file else _share(train, worker)))

    return order


def _first_train_index(source: Source, keep: tuple[int, ...] | None, num_validation: int) -> int:
    """The fixed-order index of the first train example after the validation examples."""
    if keep is None:
        return num_validation
    labels = np.concatenate(list(source.train_labels.batch(1 << 16).as_numpy_iterator()))
    return int(np.flatnonzero(np.isin(labels, keep))[num_validation])


def _share(dataset: tf.data.Dataset, worker: tuple[int, int] | None) -> tf.data.Dataset:
    return dataset if worker is None else dataset.shard(*worker)


def _images(ds: tf.data.Dataset) -> tf.data.Dataset:
    return ds.map(lambda ex: ex["image"], num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _split_images(ds: tf.data.Dataset, split: str, options: PipelineOptions) -> tf.data.Dataset:
    """The images of a fixed split (unbatched), as `fixed_split` makes them."""
    return fixed_split(_images(ds), split, options)


def fixed_split(elements: tf.data.Dataset, split: str, options: PipelineOptions) -> tf.data.Dataset:
    """A fixed split (unbatched; images, or examples with an "image") as the pipelines hold
    it: cropped with the split's fixed crops, then binarised once with its fixed draw, as the
    options ask; evaluate and export read the splits of a run through this."""
    if options.crop is not None:
        elements = crops.fixed(elements, split, tuple(options.crop), options.crops_per_image)
    if options.binarize:
        elements = binarization.fixed(elements, split)
    return elements


def _fixed(
    images: tf.data.Dataset, cache: bool, batch_size: int, drop_remainder: bool
) -> tf.data.Dataset:
    """A split's images in their fixed order, batched (cached in memory when `cache`)."""
    images = images.cache() if cache else images
    return images.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


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
