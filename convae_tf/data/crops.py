"""Crops of images (`--crop`): random ones for training, fixed ones for validation and test.

Each image gives `count` crops at once and is then dropped: a photo is decoded, cropped
several times and let go, so memory holds the crops and the few photos in flight only. Every
crop position is drawn statelessly, keyed by (seed, position of the image in its split or
pass), as `binarize` draws its pixels: a train pass's crops depend on the pass seed (the run's
seed and the epoch) alone, so a resumed epoch takes the crops an uninterrupted one took, and
validation and test take the same crops on every run, whatever the run's seed. Evaluate's
`train` split (every train image, validation part included) takes fixed crops too, from a seed
of its own.

The fixed crops take images or examples (dicts with an "image"; the crops of an example keep
its other values, its label): training crops images, evaluate and export crop examples, and
both get the same crops of an image at the same position.
"""

from __future__ import annotations

import tensorflow as tf

from convae_tf.data import ops

# The fixed draws of the splits that are cropped once (evaluation reads the same crops).
SPLIT_SEEDS = {"train": 9_001, "validation": 9_002, "test": 9_003}


def _crops_of(image: tf.Tensor, key, position, crop: tuple[int, int], count: int) -> tf.Tensor:
    """[H, W, C] -> [count, *crop, C] of the same dtype, at positions drawn from (key, position)."""
    seed = tf.stack([tf.cast(key, tf.int64), tf.cast(position, tf.int64)])
    seeds = tf.random.experimental.stateless_split(seed, count)
    size = tf.concat([tf.constant(crop, tf.int32), tf.shape(image)[-1:]], axis=0)
    return tf.stack(
        [tf.image.stateless_random_crop(image, size, seed=seeds[k]) for k in range(count)]
    )


def _cropped(elements: tf.data.Dataset, key, positions, crop, count: int) -> tf.data.Dataset:
    """The crops of `elements`, (position, image or example) pairs, unbatched: an example's
    crops each carry its other values."""

    def one(position, element):
        if not isinstance(element, dict):
            return _crops_of(element, key, positions(position), crop, count)
        image = _crops_of(element["image"], key, positions(position), crop, count)
        others = {k: tf.repeat(v[None], count, axis=0) for k, v in element.items() if k != "image"}
        return {**others, "image": image}

    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    return elements.map(one, **parallel).unbatch()


def _to_unit_float(element):
    if isinstance(element, dict):
        return {**element, "image": ops.to_unit_float(element["image"])}
    return ops.to_unit_float(element)


def fixed(
    elements: tf.data.Dataset, split: str, crop: tuple[int, int], count: int
) -> tf.data.Dataset:
    """The float32 crops of a split in its fixed order (unbatched): `count` per image (or
    example), the same on every pass, the crops of one image in a row."""
    return fixed_at(elements.enumerate(), split, crop, count)


def fixed_at(
    positioned: tf.data.Dataset, split: str, crop: tuple[int, int], count: int
) -> tf.data.Dataset:
    """`fixed` of some images of a split only: `positioned` holds (position in the split,
    image or example) pairs, and each image gets the crops it gets in the whole split."""
    crops = _cropped(positioned, SPLIT_SEEDS[split], lambda position: position, crop, count)
    return crops.map(_to_unit_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


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
    crops = _cropped(images.enumerate(), pass_seed, positions, crop, count)
    crops = crops.shuffle(buffer, seed=pass_seed)
    return crops.map(ops.to_unit_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
