"""Loss maths against values worked out by hand."""

import math

import numpy as np
import pytest
from scipy import stats

from convae_tf.models import losses


def test_bce_from_logits_matches_the_definition():
    x = np.array([[[[1.0], [0.0]], [[0.25], [1.0]]]], np.float32)  # one 2x2 image
    logits = np.array([[[[0.0], [2.0]], [[-1.0], [30.0]]]], np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    by_hand = [
        -math.log(0.5),  # x=1, p=0.5
        -math.log(1 - p[0, 0, 1, 0]),  # x=0
        -(0.25 * math.log(p[0, 1, 0, 0]) + 0.75 * math.log(1 - p[0, 1, 0, 0])),
        math.log1p(math.exp(-30.0)),  # x=1 with a saturated logit stays finite and ~0
    ]
    got = np.asarray(losses.reconstruction_error(x, logits, "bce", "mean"))
    np.testing.assert_allclose(got, [np.mean(by_hand)], rtol=1e-5)
    got_sum = np.asarray(losses.reconstruction_error(x, logits, "bce", "sum"))
    np.testing.assert_allclose(got_sum, [np.sum(by_hand)], rtol=1e-5)


def test_mse_is_on_sigmoid_outputs():
    x = np.array([[[[1.0]], [[0.0]]]], np.float32)  # 2x1 image
    logits = np.zeros_like(x)  # sigmoid = 0.5 everywhere
    np.testing.assert_allclose(losses.reconstruction_error(x, logits, "mse"), [0.25])
    np.testing.assert_allclose(losses.reconstruction_error(x, logits, "mse", "sum"), [0.5])


def test_weights_scale_each_pixels_error_and_the_mean_still_divides_by_the_pixel_count():
    x = np.array([[[[1.0]], [[0.0]]], [[[0.0]], [[0.0]]]], np.float32)  # two 2x1 images
    logits = np.zeros_like(x)  # errors 0.25 everywhere
    weights = np.array([[[[6.0]], [[1.0]]], [[[0.0]], [[2.0]]]], np.float32)
    np.testing.assert_allclose(
        losses.reconstruction_error(x, logits, "mse", weights=weights), [0.875, 0.25]
    )
    np.testing.assert_allclose(
        losses.reconstruction_error(x, logits, "bce", "sum", weights=np.ones_like(x)),
        losses.reconstruction_error(x, logits, "bce", "sum"),
    )


def test_unknown_loss_and_reduction_are_named():
    x = np.zeros((1, 2, 2, 1), np.float32)
    with pytest.raises(ValueError, match="loss='l1'"):
        losses.reconstruction_error(x, x, "l1")
    with pytest.raises(ValueError, match="reduction"):
        losses.reconstruction_error(x, x, "bce", "max")


def test_gaussian_kl_agrees_with_a_monte_carlo_estimate():
    """KL(q ‖ N(0, I)) = E_q[log q(z) − log p(z)], per coordinate and summed."""
    mean = np.array([[0.5, -1.0, 0.0]], np.float32)
    log_var = np.array([[0.0, math.log(2.0), -1.0]], np.float32)
    per_unit = np.asarray(losses.gaussian_kl_per_unit(mean, log_var))[0]
    np.testing.assert_allclose(losses.gaussian_kl(mean, log_var), [per_unit.sum()], rtol=1e-6)
    scale = np.exp(0.5 * log_var[0])
    z = mean[0] + scale * np.random.default_rng(0).standard_normal((400_000, 3))
    log_ratio = stats.norm.logpdf(z, mean[0], scale) - stats.norm.logpdf(z)
    np.testing.assert_allclose(per_unit, log_ratio.mean(axis=0), atol=0.015)
