"""Loss maths as pure functions of tensors (no layers, no state)."""

from __future__ import annotations

import math

from keras import ops

RECONSTRUCTION_LOSSES = ("bce", "mse")


def reconstruction_error(images, logits, kind: str = "bce", reduction: str = "mean", weights=None):
    """Per-example reconstruction error between images in [0, 1] and decoder logits.

    kind: "bce", binary cross-entropy computed from logits (stable for saturated pixels), or
    "mse", squared error of sigmoid(logits). reduction over the pixels: "mean" (per-pixel
    average, as Keras losses report) or "sum" (nats per image, as a likelihood wants).
    weights: each pixel's weight, broadcast to the images (None: all 1); the mean then
    divides by the pixel count, not by the weights' sum, as partial-convolution losses do.
    Returns a tensor of shape (batch,).
    """
    if kind == "bce":
        # Keras's element-wise BCE; from logits it is TF's stable sigmoid cross-entropy,
        # max(l, 0) - l*x + log(1 + exp(-|l|)), finite for saturated logits.
        per_pixel = ops.binary_crossentropy(images, logits, from_logits=True)
    elif kind == "mse":
        per_pixel = ops.square(ops.sigmoid(logits) - images)
    else:
        raise ValueError(
            f"loss={kind!r} is not valid; choose one of {', '.join(RECONSTRUCTION_LOSSES)}"
        )
    if weights is not None:
        per_pixel = per_pixel * weights
    axes = tuple(range(1, len(per_pixel.shape)))
    if reduction == "mean":
        return ops.mean(per_pixel, axis=axes)
    if reduction == "sum":
        return ops.sum(per_pixel, axis=axes)
    raise ValueError(f"reduction={reduction!r} is not valid; choose mean or sum")


def gaussian_kl_per_unit(mean, log_var):
    """KL(N(mean_j, exp(log_var_j)) ‖ N(0, 1)) of each coordinate j in closed form, in nats:
    0.5 · (exp(log_var_j) + mean_j² − 1 − log_var_j), element-wise."""
    return 0.5 * (ops.exp(log_var) + ops.square(mean) - 1.0 - log_var)


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) ‖ N(0, I)) in closed form, summed over the last axis: the sum
    of `gaussian_kl_per_unit`, in nats; shape (batch,)."""
    return ops.sum(gaussian_kl_per_unit(mean, log_var), axis=-1)


def gaussian_nll(images, mean, log_scale):
    """Negative log-likelihood of `images` under N(mean, exp(log_scale)²), per example.

    Σ_pixels 0.5·((x − mean)/σ)² + log σ + 0.5·log 2π, in nats; `log_scale` is a scalar or
    broadcasts to the images. Shape (batch,).
    """
    per_pixel = (
        0.5 * ops.square((images - mean) * ops.exp(-log_scale))
        + log_scale
        + 0.5 * math.log(2.0 * math.pi)
    )
    return ops.sum(per_pixel, axis=tuple(range(1, len(per_pixel.shape))))


def kl_sparsity(rho: float, rho_hat, epsilon: float = 1e-7):
    """Ng's sparsity penalty Σ_j KL(ρ ‖ ρ̂_j) between Bernoulli means, summed over the last axis.

    rho: the target mean activation; rho_hat: each unit's mean activation over the batch, in
    (0, 1). ρ̂ is clipped away from 0 and 1 by `epsilon`: a unit that saturates would otherwise
    give an infinite penalty and NaN gradients.
    """
    rho_hat = ops.clip(rho_hat, epsilon, 1.0 - epsilon)
    return ops.sum(
        rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat)),
        axis=-1,
    )


def l1_activity(code):
    """L1 norm of each example's code, Σ_j |h_j|; shape (batch,)."""
    return ops.sum(ops.abs(code), axis=tuple(range(1, len(code.shape))))
