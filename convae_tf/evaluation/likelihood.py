"""Likelihood estimates of a trained VAE, in nats per image.

For each image x, k posterior samples z_i ~ q(z|x) give log-weights
    log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x)
from which
    neg_elbo = −(1/k) Σ_i log w_i            (the negative ELBO, Monte Carlo with k samples)
    nll_is   = −log (1/k) Σ_i w_i            (Burda et al. 2016's importance-weighted bound)
Both use the same samples, so nll_is ≤ neg_elbo holds exactly for every image (Jensen), and
nll_is tightens towards −log p(x) as k grows. log p(x|z) is the model's own likelihood (its
`reconstruction_error`: Bernoulli for "bce", Gaussian for "mse") and log p(z) its own prior
(`log_prior`: N(0, I) or a VampPrior), with β = 1 whatever the training β: these are the
model's bounds on −log p(x), not its training loss.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from convae_tf.evaluation import metrics

# Images × samples decoded in one call: bounds the decoder's activations in memory
# (a 32×32 decoder with 32 filters holds ~130 kB per image).
DECODE_CHUNK = 2048


def log_weights(model, images: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """log w of shape (k, N) for a batch of N images (see the module docstring)."""
    mean, log_var = (np.asarray(t, np.float64) for t in model.encode(tf.constant(images)))
    rng = np.random.default_rng(seed)
    epsilon = rng.standard_normal((k, *mean.shape))
    z = mean + np.exp(0.5 * log_var) * epsilon  # (k, N, D)
    # log q(z|x) at z = mean + σ·ε, written in ε (exact, and stable for small σ).
    log_posterior = -0.5 * np.sum(np.square(epsilon) + log_var + math.log(2 * math.pi), axis=-1)
    log_likelihood = np.empty((k, len(images)))
    # The model's own prior (N(0, I) or its VampPrior), chunk by chunk like the decodes: a
    # VampPrior compares every code with each of its K components, encoded once here.
    log_prior = np.empty((k, len(images)))
    components = model.prior_posteriors()
    per_call = max(1, DECODE_CHUNK // len(images))
    batch = tf.constant(images)
    for start in range(0, k, per_call):
        stop = min(k, start + per_call)
        codes = tf.constant(z[start:stop].reshape(-1, mean.shape[-1]).astype(np.float32))
        log_p = model.log_prior(codes, components=components)
        log_prior[start:stop] = np.reshape(log_p, (stop - start, len(images)))
        logits = model.decode_logits(codes)
        repeated = tf.tile(batch, [stop - start, 1, 1, 1])
        error = np.asarray(model.reconstruction_error(repeated, logits), np.float64)
        log_likelihood[start:stop] = -error.reshape(stop - start, len(images))
    return log_likelihood + log_prior - log_posterior


def bounds(model, images: np.ndarray, k: int, seed: int = 0, batch_size: int = 64, progress=None):
    """Per-image (neg_elbo, nll_is), each shape (N,). Each batch draws its own samples from
    a seed derived from `seed` and its position, so the result does not depend on how much
    else is evaluated. `progress(done)`, if given, is called with the number of images done
    after each batch: k = 1,000 on 10,000 images is 10 million decodes, an hour on 2 cores."""
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    neg_elbo, nll_is = [], []
    for index, start in enumerate(range(0, len(images), batch_size)):
        log_w = log_weights(model, images[start : start + batch_size], k, seed=(seed, index))
        neg_elbo.append(-np.mean(log_w, axis=0))
        nll_is.append(-metrics.log_mean_exp(log_w, axis=0))
        if progress is not None:
            progress(min(start + batch_size, len(images)))
    return np.concatenate(neg_elbo), np.concatenate(nll_is)
