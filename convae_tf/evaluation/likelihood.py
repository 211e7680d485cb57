"""Likelihood estimates of a trained VAE, in nats per image.

For each image x, k posterior samples z_i ~ q(z|x) give log-weights
    log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x)
(the model's own `log_importance_weights`), from which
    neg_elbo = −(1/k) Σ_i log w_i            (the negative ELBO, Monte Carlo with k samples)
    nll_is   = −log (1/k) Σ_i w_i            (Burda et al. 2016's importance-weighted bound)
Both use the same samples, so nll_is ≤ neg_elbo holds exactly for every image (Jensen), and
nll_is tightens towards −log p(x) as k grows. log p(x|z) is the model's own likelihood (its
`reconstruction_error`: Bernoulli for "bce", Gaussian for "mse") and log p(z) its own prior
(`log_prior`: N(0, I) or a VampPrior), with β = 1 whatever the training β: these are the
model's bounds on −log p(x), not its training loss.

This module draws the samples (from a seed, so that the figures reproduce) and bounds the
memory: images go through in batches (or come in batches, streamed from a split), and each
batch's k samples are decoded in chunks.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from scipy.special import logsumexp

# Images × samples decoded in one call: bounds the decoder's activations in memory.
DECODE_CHUNK = 2048
# Images whose k samples are drawn from one seed (`bounds`).
BATCH_SIZE = 64


def log_weights(model, images: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """log w of shape (k, N) for a batch of N images (see the module docstring)."""
    batch = tf.constant(images)
    encoded = model.encode(batch)
    noise_shape = (k, *encoded[0].shape)
    epsilon = np.random.default_rng(seed).standard_normal(noise_shape).astype(np.float32)
    # A VampPrior's components (the encoded pseudo-inputs) are encoded once, not per chunk.
    components = model.prior_posteriors()
    per_call = max(1, DECODE_CHUNK // len(images))
    chunks = [
        model.log_importance_weights(
            batch, epsilon[start : start + per_call], encoded=encoded, components=components
        )
        for start in range(0, k, per_call)
    ]
    return np.concatenate([np.asarray(chunk, np.float64) for chunk in chunks])


def bounds(
    model, images: np.ndarray, k: int, seed: int = 0, batch_size: int = BATCH_SIZE, progress=None
):
    """Per-image (neg_elbo, nll_is), each shape (N,). Each batch draws its own samples from
    a seed derived from `seed` and its position, so the result does not depend on how much
    else is evaluated. `progress(done)`, if given, is called with the number of images done
    after each batch: k = 1,000 on 10,000 images is 10 million decodes."""
    batches = (images[start : start + batch_size] for start in range(0, len(images), batch_size))
    return batch_bounds(model, batches, k, seed=seed, progress=progress)


def batch_bounds(model, batches, k: int, seed: int = 0, progress=None):
    """`bounds` of images given as an iterable of numpy batches, the i-th drawing its samples
    from seed (seed, i): a set streamed in batches of BATCH_SIZE gets the samples that
    `bounds` draws for it whole."""
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    neg_elbo, nll_is, done = [], [], 0
    for index, images in enumerate(batches):
        log_w = log_weights(model, images, k, seed=(seed, index))
        neg_elbo.append(-np.mean(log_w, axis=0))
        nll_is.append(math.log(k) - logsumexp(log_w, axis=0))
        done += len(images)
        if progress is not None:
            progress(done)
    return np.concatenate(neg_elbo), np.concatenate(nll_is)
