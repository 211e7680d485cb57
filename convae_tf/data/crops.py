"""Crops of images (`--crop`): random ones for training, fixed ones for validation and test.

Each image gives `count` crops at once and is then dropped: a photo is decoded, cropped
several times and let go, so memory holds the crops and the few photos in flight only. Every
crop position is drawn statelessly, keyed by (seed, position of the image in its split or
pass), as `binarize` draws its pixels: a train pass's crops depend on the pass seed (the run's
seed and the epoch) alone, so a resumed epoch takes the crops an uninterrupted one took, and
validation and test take the same crops on every run, whatever the run's seed.
"""

from __future__ import annotations

import tensorflow as tf

from convae_tf.data import ops

# The fixed draws of the splits that are cropped once (evaluation reads the same crops).
SPLIT_SEEDS = {"validation": 9_002, "test": 9_003}


def _crops_of(image: tf.Tensor, key, position, crop: tuple[int, int], count: int) -> tf.Tensor:
    """[H, W, C] -> [count, *crop, C] of the same dtype, at positions drawn from (key, position)."""
    seed = tf.stack([tf.cast(key, tf.int64), tf.cast(position, tf.int64)])
    seeds = tf.random.experimental.stateless_split(seed, count)
    size = tf.concat([tf.constant(crop, tf.int32), tf.shape(image)[-1:]], axis=0)
    return tf.stack(
        [tf.image.stateless_random_crop(image, size, seed=seeds[k]) for k in range(count)]
    )


def _cropped(images: tf.Tensor, key, positions, crop, count: int) -> tf.data.Dataset:
    def one(position, image):
        return _crops_of(image, key, positions(position), crop, count)

    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    return images.enumerate().map(one, **parallel).unbatch()


def fixed(
    images: tf.data.Dataset, split: str, crop: tuple[int, int], count: int
) -> tf.data.Dataset:
    """The float32 crops of a split in its fixed order (unbatched): `count` per image, the
    same on every pass, the crops of one image in a row."""
    crops = _cropped(images, SPLIT_SEEDS[split], lambda position: position, crop, count)
    return crops.map(ops.to_unit_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def drawn(
    images: tf.data.Dataset,
    pass_seed: int,
    crop: tuple[int, int],
    count: int,
    buffer: int,
    worker: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """One train pass of float32 crops (unbatched): `count` per image, drawn for that pass's
    seed, shuffled in a buffer of `buffer` crops (so that a batch mixes the crops of many
    images; the buffer holds crops in the images' own dtype, uint8 for photos). A worker's
    k-th image is cropped as the k * count + index-th of the pass: with element sharding,
    exactly the crops a single process takes of that image."""
    if worker is None:
        positions = lambda position: position  # noqa: E731
    else:
        workers, index = worker
        positions = lambda position: position * workers + index  # noqa: E731
    crops = _cropped(images, pass_seed, positions, crop, count).shuffle(buffer, seed=pass_seed)
    return crops.map(ops.to_unit_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
