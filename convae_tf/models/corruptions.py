"""Image corruptions for denoising and inpainting, as plain stateless TensorFlow ops.

A leaf module (it imports nothing from convae_tf): the denoising autoencoder draws from it on
every training step, and the data pipeline or the evaluation can map the same functions over a
`tf.data.Dataset` to build corrupted test sets.

Every function takes a batch (B, H, W, C) or one image (H, W, C) of float values in [0, 1],
returns the same shape and dtype with values still in [0, 1], and draws its randomness from
`seed`: an int or a shape-(2,) integer tensor, as TensorFlow's stateless random ops want (for
instance `keras.random.SeedGenerator(...).next()`). The same seed gives the same corruption,
eagerly, inside `tf.function` and inside `Dataset.map`. In a pipeline, give each element its
own seed, e.g. `ds.enumerate().map(lambda i, x: corrupt(x, tf.stack([base_seed, i]), ...))`.

Salt-and-pepper, masking and rectangles act on pixel locations, shared by the channels of a
pixel, so that "a fraction p of pixels" means the same thing for grey and colour images; the
Gaussian noise is independent per channel, like sensor noise.
"""

from __future__ import annotations

import numbers

import tensorflow as tf


def gaussian_noise(images, seed, std):
    """Adds N(0, σ²) noise to every value, then clips to [0, 1].

    `std` a number: σ = std for every image. A pair (low, high): σ drawn for each image
    uniformly in [low, high] (blind denoising, as DnCNN-B trains: one model for every noise
    level up to `high`); the noise before scaling is that of a number `std` with this seed.
    """
    low, high = std_range(std)
    x, unbatched = _as_batch(images)
    normal = tf.random.stateless_normal(tf.shape(x), _seed(seed), dtype=x.dtype)
    if isinstance(std, numbers.Real):
        sigma = tf.constant(float(std), x.dtype)
    else:
        # Its own stream, folded off the seed, so that the noise itself stays that of `seed`.
        sigma_seed = tf.random.experimental.stateless_fold_in(_seed(seed), 1)
        batch = tf.shape(x)[:1]
        sigma_shape = tf.concat([batch, tf.ones([3], batch.dtype)], axis=0)
        sigma = tf.random.stateless_uniform(
            sigma_shape, sigma_seed, minval=low, maxval=high, dtype=x.dtype
        )
    return _restore(tf.clip_by_value(x + sigma * normal, 0.0, 1.0), unbatched)


def std_range(std, name: str = "std") -> tuple[float, float]:
    """(low, high) of a Gaussian σ given as a number or a (low, high) pair; a ValueError names
    `name` when σ is negative or the pair is not one."""
    if isinstance(std, numbers.Real) and not isinstance(std, bool):
        _check_range(name, std, 0.0, float("inf"))
        return float(std), float(std)
    try:
        low, high = (float(v) for v in std)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={std!r} must be a number or a (low, high) pair") from None
    if not 0 <= low <= high:
        raise ValueError(f"{name}={tuple(std)} must be (low, high) with 0 <= low <= high")
    return low, high


def salt_and_pepper(images, seed, p: float):
    """Sets a fraction `p` of the pixels to 0 or 1 (each with probability 1/2)."""
    _check_range("p", p, 0.0, 1.0)
    x, unbatched = _as_batch(images)
    hit_seed, value_seed = tf.unstack(tf.random.experimental.stateless_split(_seed(seed), 2))
    hit = tf.random.stateless_uniform(_pixel_shape(x), hit_seed) < p
    salt = tf.cast(tf.random.stateless_uniform(_pixel_shape(x), value_seed) < 0.5, x.dtype)
    return _restore(tf.where(hit, salt, x), unbatched)


def masking_noise(images, seed, p: float):
    """Drops a fraction `p` of the pixels to 0 (Vincent et al.'s masking noise)."""
    _check_range("p", p, 0.0, 1.0)
    x, unbatched = _as_batch(images)
    hit = tf.random.stateless_uniform(_pixel_shape(x), _seed(seed)) < p
    return _restore(tf.where(hit, tf.zeros_like(x), x), unbatched)


def random_rectangles(images, seed, count: int, min_size: float, max_size: float):
    """Sets `count` random axis-aligned rectangles per image to 0 (holes to inpaint).

    Each rectangle's height and width are drawn independently, uniformly between
    round(min_size · side) and round(max_size · side) pixels (at least 1; sizes are fractions
    of the image side so that one setting suits any resolution), and its position uniformly
    among those that keep it inside the image. Rectangles may overlap.
    """
    if int(count) < 0:
        raise ValueError(f"count={count} must be >= 0")
    _check_range("min_size", min_size, 0.0, 1.0)
    _check_range("max_size", max_size, min_size, 1.0)
    x, unbatched = _as_batch(images)
    if int(count) == 0:
        return _restore(x, unbatched)
    shape = tf.shape(x)
    batch, height, width = shape[0], shape[1], shape[2]
    u = tf.random.stateless_uniform(tf.stack([batch, int(count), 4]), _seed(seed))

    def draw(unit, low, high):  # an integer in [low, high], uniformly, from unit in [0, 1)
        return low + tf.cast(tf.floor(unit * tf.cast(high - low + 1, unit.dtype)), tf.int32)

    def side_range(side):
        side_f = tf.cast(side, tf.float32)
        low = tf.maximum(1, tf.cast(tf.round(min_size * side_f), tf.int32))
        high = tf.clip_by_value(tf.cast(tf.round(max_size * side_f), tf.int32), low, side)
        return low, high

    rect_h = draw(u[..., 0], *side_range(height))  # (B, count)
    rect_w = draw(u[..., 1], *side_range(width))
    top = draw(u[..., 2], 0, height - rect_h)
    left = draw(u[..., 3], 0, width - rect_w)
    rows = tf.range(height)[None, None, :, None]
    cols = tf.range(width)[None, None, None, :]
    inside = (
        (rows >= top[..., None, None])
        & (rows < (top + rect_h)[..., None, None])
        & (cols >= left[..., None, None])
        & (cols < (left + rect_w)[..., None, None])
    )  # (B, count, H, W)
    hole = tf.reduce_any(inside, axis=1)[..., None]
    return _restore(tf.where(hole, tf.zeros_like(x), x), unbatched)


def corrupt(
    images,
    seed,
    gaussian_std: float | tuple[float, float] = 0.0,
    salt_pepper: float = 0.0,
    masking: float = 0.0,
    rectangles: int = 0,
    rectangle_size: tuple[float, float] = (0.1, 0.3),
):
    """Every corruption whose strength is non-zero, in this order: Gaussian noise,
    salt-and-pepper, masking, rectangles (holes last, so that they stay exactly 0).
    `gaussian_std` a (low, high) pair: σ drawn per image (see `gaussian_noise`).

    Each corruption draws from its own seed split off `seed`, so turning one on or off does not
    change the noise of the others.
    """
    seeds = tf.unstack(tf.random.experimental.stateless_split(_seed(seed), 4))
    x = tf.convert_to_tensor(images)
    if std_range(gaussian_std)[1] > 0:
        x = gaussian_noise(x, seeds[0], gaussian_std)
    if salt_pepper:
        x = salt_and_pepper(x, seeds[1], salt_pepper)
    if masking:
        x = masking_noise(x, seeds[2], masking)
    if rectangles:
        x = random_rectangles(x, seeds[3], rectangles, *rectangle_size)
    return x


# ------------------------------------------------------------------------------------ helpers
def _seed(seed) -> tf.Tensor:
    if isinstance(seed, int):
        return tf.constant([seed, 0], tf.int64)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank == 0:
        return tf.stack([seed, tf.constant(0, tf.int64)])
    return seed


def _as_batch(images):
    x = tf.convert_to_tensor(images)
    if not x.dtype.is_floating:
        raise ValueError(f"images must be float in [0, 1], got dtype {x.dtype.name}")
    if x.shape.rank == 3:
        return x[None], True
    if x.shape.rank == 4:
        return x, False
    raise ValueError(f"images must be (B, H, W, C) or (H, W, C), got shape {x.shape}")


def _restore(x, unbatched: bool):
    return x[0] if unbatched else x


def _pixel_shape(x):
    """(B, H, W, 1): one draw per pixel location, broadcast over the channels."""
    return tf.concat([tf.shape(x)[:-1], [1]], axis=0)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= float(value) <= high:
        raise ValueError(f"{name}={value} must be in [{low}, {high}]")
