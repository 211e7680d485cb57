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

Salt-and-pepper, masking, rectangles and strokes act on pixel locations, shared by the channels of a
pixel, so that "a fraction p of pixels" means the same thing for grey and colour images; the
Gaussian noise is independent per channel, like sensor noise.
"""

from __future__ import annotations

import math
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
    return _restore(_fill_holes(x, _masking_holes(x, seed, p)), unbatched)


def random_rectangles(images, seed, count: int, min_size: float, max_size: float):
    """Sets `count` random axis-aligned rectangles per image to 0 (holes to inpaint); where,
    `rectangle_mask` with the same arguments says."""
    x, unbatched = _as_batch(images)
    hole = rectangle_mask(x, seed, count, min_size, max_size) > 0
    return _restore(_fill_holes(x, hole), unbatched)


def rectangle_mask(images, seed, count: int, min_size: float, max_size: float):
    """The holes of `random_rectangles` (same arguments): (B, H, W, 1), 1 where a pixel is
    missing, 0 elsewhere, in the images' dtype.

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
        return _restore(tf.zeros(_pixel_shape(x), x.dtype), unbatched)
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
    return _restore(tf.cast(hole, x.dtype), unbatched)


def random_strokes(images, seed, count: int, min_width: float, max_width: float):
    """Sets `count` random free-form brush strokes per image to 0 (holes to inpaint); where,
    `stroke_mask` with the same arguments says."""
    x, unbatched = _as_batch(images)
    hole = stroke_mask(x, seed, count, min_width, max_width) > 0
    return _restore(_fill_holes(x, hole), unbatched)


def stroke_mask(images, seed, count: int, min_width: float, max_width: float):
    """The holes of `random_strokes`: (B, H, W, 1), 1 where a pixel is missing, 0 elsewhere.

    Free-form masks as DeepFill v2 draws them (Yu et al. 2019): each stroke is a random walk
    of 4 to 11 straight segments from a uniform start, drawn as a brush of one width with
    round ends and joints. Its width is drawn uniformly between min_width and max_width times
    the shorter image side (at least 1 pixel), each step's length from N(d/8, d/16) clipped
    to [0, d/4] (d the image diagonal), and its turns zigzag about 72° left and right of a
    direction drawn uniformly per stroke (DeepFill's walks all head right, and it flips the
    masks at random instead). Vertices stay inside the image; strokes may overlap and cross.
    """
    if int(count) < 0:
        raise ValueError(f"count={count} must be >= 0")
    _check_range("min_width", min_width, 0.0, 1.0)
    _check_range("max_width", max_width, min_width, 1.0)
    x, unbatched = _as_batch(images)
    if int(count) == 0:
        return _restore(tf.zeros(_pixel_shape(x), x.dtype), unbatched)
    shape = tf.shape(x)
    vertices, radius = _stroke_walks(shape, _seed(seed), int(count), min_width, max_width)
    rows = tf.cast(tf.range(shape[1]), tf.float32)[None, None, :, None] + 0.5
    cols = tf.cast(tf.range(shape[2]), tf.float32)[None, None, None, :] + 0.5
    hole = tf.zeros(tf.stack([shape[0], int(count), shape[1], shape[2]]), tf.bool)
    # One segment at a time, vectorised over images and strokes: all segments at once would
    # hold (B, strokes, segments, H, W) values, too many for photo-sized crops.
    for start, end in zip(vertices[:-1], vertices[1:], strict=True):
        hole |= _near_segment(rows, cols, start, end, radius)
    return _restore(tf.cast(tf.reduce_any(hole, axis=1)[..., None], x.dtype), unbatched)


# DeepFill v2's free-form masks (its generate_mask): the segments per stroke, the mean turn and
# the spread of its bounds.
_STROKE_SEGMENTS = (4, 11)
_MEAN_TURN, _TURN_RANGE = 2 * math.pi / 5, 2 * math.pi / 15


def _stroke_walks(shape, seed, count: int, min_width: float, max_width: float):
    """The strokes' vertices, a list of (y, x) pairs of (B, count) tensors in pixels, and
    their brush radii (B, count), drawn from `seed`."""
    batch = shape[0]
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    stroke_seed, turn_seed, step_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    # Per stroke: segments, width, heading, the turn's two bounds, start row, start column.
    # Images lead every shape, so that an image's strokes do not depend on the batch size.
    draws = tf.unstack(
        tf.random.stateless_uniform(tf.stack([batch, count, 7]), stroke_seed), axis=-1
    )
    low, high = _STROKE_SEGMENTS
    segments = low + tf.floor(draws[0] * (high - low + 1))
    brush = min_width + draws[1] * (max_width - min_width)
    radius = tf.maximum(0.5 * brush * tf.minimum(height, width), 0.5)
    heading = 2 * math.pi * draws[2]
    turn_low = _MEAN_TURN - _TURN_RANGE * draws[3]
    turn_high = _MEAN_TURN + _TURN_RANGE * draws[4]
    step_shape = tf.stack([batch, count, high])
    turns = tf.unstack(tf.random.stateless_uniform(step_shape, turn_seed), num=high, axis=-1)
    mean_step = tf.sqrt(height * height + width * width) / 8
    steps = tf.random.stateless_normal(step_shape, step_seed, mean_step, mean_step / 2)
    steps = tf.unstack(tf.clip_by_value(steps, 0.0, 2 * mean_step), num=high, axis=-1)
    y, x = draws[5] * height, draws[6] * width
    vertices = [(y, x)]
    # A loop over the step index (a constant), not over images: each step moves every walk.
    for k in range(high):
        turn = turn_low + turns[k] * (turn_high - turn_low)
        angle = heading + (turn if k % 2 else -turn)
        length = tf.where(float(k) < segments, steps[k], 0.0)  # shorter walks stand still
        y = tf.clip_by_value(y + length * tf.sin(angle), 0.0, height)
        x = tf.clip_by_value(x + length * tf.cos(angle), 0.0, width)
        vertices.append((y, x))
    return vertices, radius


def _near_segment(rows, cols, start, end, radius):
    """(B, count, H, W): whether each pixel centre lies within `radius` of the segment."""
    y0, x0, y1, x1, r = (v[..., None, None] for v in (*start, *end, radius))
    dy, dx = y1 - y0, x1 - x0
    # Where the nearest point lies along the segment: 0 at its start, 1 at its end.
    t = ((rows - y0) * dy + (cols - x0) * dx) / tf.maximum(dy * dy + dx * dx, 1e-6)
    t = tf.clip_by_value(t, 0.0, 1.0)
    return tf.square(rows - y0 - t * dy) + tf.square(cols - x0 - t * dx) <= tf.square(r)


def corrupt(images, seed, **strengths):
    """`images` with every corruption whose strength is non-zero (see `corrupt_with_mask`,
    which takes the same arguments and also says which pixels are missing)."""
    return corrupt_with_mask(images, seed, **strengths)[0]


def corrupt_with_mask(
    images,
    seed,
    gaussian_std: float | tuple[float, float] = 0.0,
    salt_pepper: float = 0.0,
    masking: float = 0.0,
    rectangles: int = 0,
    rectangle_size: tuple[float, float] = (0.1, 0.3),
    strokes: int = 0,
    stroke_width: tuple[float, float] = (0.05, 0.15),
):
    """(corrupted images, missing): every corruption whose strength is non-zero, in this
    order: Gaussian noise, salt-and-pepper, then the holes, set to 0: masking, rectangles,
    strokes (holes last, so that they stay exactly 0). `missing` (B, H, W, 1), or (H, W, 1)
    for one image, is 1 where a hole is, 0 elsewhere: the pixels an inpainter must fill.
    `gaussian_std` a (low, high) pair: σ drawn per image (see `gaussian_noise`).

    Each corruption draws from its own seed split off `seed`, so turning one on or off does not
    change the noise of the others.
    """
    seeds = tf.unstack(tf.random.experimental.stateless_split(_seed(seed), 5))
    x, unbatched = _as_batch(images)
    if std_range(gaussian_std)[1] > 0:
        x = gaussian_noise(x, seeds[0], gaussian_std)
    if salt_pepper:
        x = salt_and_pepper(x, seeds[1], salt_pepper)
    missing = tf.zeros(_pixel_shape(x), x.dtype)
    if masking:
        missing = tf.maximum(missing, tf.cast(_masking_holes(x, seeds[2], masking), x.dtype))
    if rectangles:
        missing = tf.maximum(missing, rectangle_mask(x, seeds[3], rectangles, *rectangle_size))
    if strokes:
        missing = tf.maximum(missing, stroke_mask(x, seeds[4], strokes, *stroke_width))
    if masking or rectangles or strokes:
        x = _fill_holes(x, missing > 0)
    return _restore(x, unbatched), _restore(missing, unbatched)


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


def _masking_holes(x, seed, p: float):
    """(B, H, W, 1) booleans: each pixel of the batch `x` missing with probability `p`."""
    return tf.random.stateless_uniform(_pixel_shape(x), _seed(seed)) < p


def _fill_holes(x, hole):
    """The batch `x` with 0 where `hole` (B, H, W, 1 booleans) is true, in every channel."""
    return tf.where(hole, tf.zeros_like(x), x)
