"""Dynamic binarisation: each pixel p in [0, 1] becomes 1 with probability p, else 0.

The way likelihood papers train and test on MNIST (e.g. Burda et al. 2015, IWAE): the train
images are drawn afresh every epoch, while validation and test are binarised once, with fixed
seeds, so every model is scored on the same binary images. Every draw is stateless, keyed by
(seed, position of the image in its split or pass): the same images come out on every run and
machine, whatever the batch size, and a resumed epoch draws what an uninterrupted one drew.
"""

from __future__ import annotations

import tensorflow as tf

# The fixed draws of the splits that are binarised once (evaluate's `train` split included, so
# its validation prefix matches the validation batches of training).
SPLIT_SEEDS = {"train": 7_001, "validation": 7_002, "test": 7_003}


def _draw(image: tf.Tensor, key: tf.Tensor, position: tf.Tensor) -> tf.Tensor:
    seed = tf.stack([tf.cast(key, tf.int64), tf.cast(position, tf.int64)])
    uniform = tf.random.stateless_uniform(tf.shape(image), seed=seed, dtype=image.dtype)
    return tf.cast(uniform < image, image.dtype)


def _map(dataset: tf.data.Dataset, key, positions) -> tf.data.Dataset:
    """Binarises the images of `dataset` (images, or examples with an "image")."""

    def one(position, element):
        position = positions(position)
        if isinstance(element, dict):
            return {**element, "image": _draw(element["image"], key, position)}
        return _draw(element, key, position)

    return dataset.enumerate().map(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def fixed(dataset: tf.data.Dataset, split: str) -> tf.data.Dataset:
    """A split in its fixed order (unbatched), binarised once: the same draw every time."""
    return _map(dataset, SPLIT_SEEDS[split], lambda position: position)


def drawn(
    dataset: tf.data.Dataset, pass_seed: int, worker: tuple[int, int] | None = None
) -> tf.data.Dataset:
    """One train pass (unbatched), binarised afresh for that pass's seed. A worker's k-th
    image is drawn as the k * count + index-th of the pass: with element sharding, exactly
    the draw a single process makes of that image."""
    if worker is None:
        return _map(dataset, pass_seed, lambda position: position)
    count, index = worker
    return _map(dataset, pass_seed, lambda position: position * count + index)
