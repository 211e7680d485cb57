"""Image ops shared by every source; plain TF, so they work eagerly and inside tf.data."""

from __future__ import annotations

import tensorflow as tf


def to_unit_float(image: tf.Tensor) -> tf.Tensor:
    """Integer images (uint8, uint16, ...) -> float32 in [0, 1]; float images are only cast."""
    image = tf.convert_to_tensor(image)
    if image.dtype.is_integer:
        return tf.cast(image, tf.float32) / float(image.dtype.max)
    return tf.cast(image, tf.float32)


def resize(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Bilinear resize of a float image ([H, W, C] or [B, H, W, C]), clipped back to [0, 1]."""
    image = tf.convert_to_tensor(image, tf.float32)
    if tuple(image.shape[-3:-1]) == tuple(size):
        return image
    # Bilinear never overshoots, but keep the [0, 1] contract explicit for later changes.
    return tf.clip_by_value(tf.image.resize(image, size, method="bilinear"), 0.0, 1.0)
