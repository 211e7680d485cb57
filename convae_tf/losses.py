"""Loss maths as pure functions of tensors (no layers, no state)."""

from __future__ import annotations

from keras import ops

RECONSTRUCTION_LOSSES = ("bce", "mse")


def reconstruction_error(images, logits, kind: str = "bce", reduction: str = "mean"):
    """Per-example reconstruction error between images in [0, 1] and decoder logits.

    kind: "bce", binary cross-entropy computed from logits (stable for saturated pixels), or
    "mse", squared error of sigmoid(logits). reduction over the pixels: "mean" (per-pixel
    average, as Keras losses report) or "sum" (nats per image, as a likelihood wants).
    Returns a tensor of shape (batch,).
    """
    if kind == "bce":
        # max(l, 0) - l*x + log(1 + exp(-|l|)): the usual stable form of sigmoid cross-entropy.
        per_pixel = (
            ops.relu(logits) - logits * images + ops.log1p(ops.exp(-ops.abs(logits)))
        )
    elif kind == "mse":
        per_pixel = ops.square(ops.sigmoid(logits) - images)
    else:
        raise ValueError(f"loss={kind!r} is not valid; choose one of {', '.join(RECONSTRUCTION_LOSSES)}")
    axes = tuple(range(1, len(per_pixel.shape)))
    if reduction == "mean":
        return ops.mean(per_pixel, axis=axes)
    if reduction == "sum":
        return ops.sum(per_pixel, axis=axes)
    raise ValueError(f"reduction={reduction!r} is not valid; choose mean or sum")
