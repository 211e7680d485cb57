"""Metric maths against values computed by hand (the library calls behind them included)."""

import math

import numpy as np
import pytest

from convae_tf.evaluation import metrics, probe
from convae_tf.utils import figures, image_quality


def test_psnr_of_known_arrays():
    clean = np.zeros((2, 4, 4, 1))
    off_by_tenth = np.full((2, 4, 4, 1), 0.1)  # mse 0.01 → 10·log10(1/0.01) = 20 dB
    np.testing.assert_allclose(image_quality.per_image_psnr(off_by_tenth, clean), [20.0, 20.0])
    half = clean.copy()
    half[1, :2] = 1.0  # second image: half the pixels off by 1 → mse 0.5 → 3.0103 dB
    np.testing.assert_allclose(
        image_quality.per_image_psnr(half, clean), [100.0, 10 * math.log10(2)], rtol=1e-9
    )  # identical images are capped at 100 dB, not infinite


def test_psnr_matches_tensorflow():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a, b = rng.uniform(size=(3, 8, 8, 1)), rng.uniform(size=(3, 8, 8, 1))
    expected = tf.image.psnr(a.astype(np.float32), b.astype(np.float32), max_val=1.0).numpy()
    np.testing.assert_allclose(image_quality.per_image_psnr(a, b), expected, rtol=1e-4)


def test_masked_psnr_pools_the_masked_pixels_only():
    clean = np.zeros((2, 2, 2, 1))
    noisy = np.full((2, 2, 2, 1), 0.5)
    noisy[0, 0, 0, 0] = 0.1  # the only masked pixel of image 0
    mask = np.zeros((2, 2, 2, 1), bool)
    mask[0, 0, 0, 0] = True
    mask[1, 1, 1, 0] = True  # and one of image 1, error 0.5
    # pooled mse = (0.01 + 0.25) / 2 = 0.13
    assert metrics.masked_psnr(noisy, clean, mask) == pytest.approx(10 * math.log10(1 / 0.13))
    with pytest.raises(ValueError):
        metrics.masked_psnr(noisy, clean, np.zeros_like(mask))


def test_ssim_window_fits_small_images():
    assert metrics.ssim_filter_size(28, 28) == 11
    assert metrics.ssim_filter_size(8, 16) == 7  # odd, at most the image side
    images = np.random.default_rng(0).uniform(size=(2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(metrics.per_image_ssim(images, images), [1.0, 1.0], rtol=1e-5)


def test_bce_from_logits():
    images = np.array([[[[1.0]], [[0.0]]]])  # one 2×1 image
    logits = np.array([[[[0.0]], [[math.log(3)]]]])  # p = 0.5 and 0.75
    expected = (math.log(2) + -math.log(0.25)) / 2
    np.testing.assert_allclose(metrics.per_image_bce(images, logits), [expected], rtol=1e-12)


# -------------------------------------------------------------------------- AUROC and AUPRC
def test_auroc_and_auprc_of_a_small_case():
    scores = [0.1, 0.4, 0.35, 0.8]
    positive = [0, 0, 1, 1]
    # Pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4): 3 of 4.
    assert metrics.auroc(scores, positive) == pytest.approx(0.75)
    # Ranked: 0.8+ (P 1, R .5), 0.4− , 0.35+ (P 2/3, R 1), 0.1−: AP = .5·1 + .5·2/3.
    assert metrics.auprc(scores, positive) == pytest.approx(0.5 + 1 / 3)


def test_ties_count_half_and_enter_together():
    scores = [1, 2, 2, 3]
    positive = [0, 0, 1, 1]
    # Pairs: (2 vs 1) 1, (2 vs 2) ½, (3 vs 1) 1, (3 vs 2) 1 → 3.5 / 4.
    assert metrics.auroc(scores, positive) == pytest.approx(0.875)
    # Thresholds 3: P 1, R .5; 2 (both tied examples at once): P 2/3, R 1.
    assert metrics.auprc(scores, positive) == pytest.approx(0.5 + 1 / 3)
    # All tied: a coin flip, and precision is the positive rate at the only threshold.
    assert metrics.auroc([5, 5, 5, 5], [0, 1, 0, 1]) == pytest.approx(0.5)
    assert metrics.auprc([5, 5, 5, 5], [0, 1, 0, 1]) == pytest.approx(0.5)


def test_perfect_and_reversed_rankings():
    assert metrics.auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert metrics.auroc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert metrics.auprc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0


def test_auroc_is_the_area_under_roc_curve():
    rng = np.random.default_rng(1)
    scores = np.round(rng.normal(size=200), 1)  # rounding makes many ties
    positive = rng.uniform(size=200) < 0.3
    fpr, tpr, _ = metrics.roc_curve(scores, positive)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert metrics.auroc(scores, positive) == pytest.approx(np.trapezoid(tpr, fpr))


def test_one_class_only_is_an_error():
    with pytest.raises(ValueError, match="both"):
        metrics.auroc([1, 2], [1, 1])


def test_threshold_and_precision_recall():
    normal = np.arange(1, 101)  # 1..100
    assert metrics.percentile_threshold(normal, 95) == pytest.approx(95.05)
    scores = [1, 2, 3, 4, 5]
    positive = [0, 0, 1, 0, 1]
    result = metrics.precision_recall_at(scores, positive, threshold=2.5)  # flags 3, 4, 5
    assert result == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "false_positive_rate": 1 / 3}
    )


# ---------------------------------------------------------------------------- latent codes
def test_active_units_and_kl_per_dim():
    means = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.1], [0.0, 1.0, -0.1]])
    # variances: 0, 8/9, 2/300 → only unit 1 exceeds 0.01
    assert metrics.active_units(means) == 1
    kl = metrics.gaussian_kl_per_dim(np.array([[1.0, 0.0]]), np.array([[0.0, math.log(2)]]))
    np.testing.assert_allclose(kl, [0.5, 0.5 * (2 - 1 - math.log(2))])


def test_principal_plane_keeps_two_dimensional_codes_and_projects_others():
    codes = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(figures.principal_plane(codes)[0], codes)
    np.testing.assert_array_equal(figures.principal_plane(codes[:, :1])[0], [[1.0, 0], [3.0, 0]])
    rng = np.random.default_rng(0)
    t = rng.normal(size=50)
    line = np.outer(t, [1.0, 2.0, 2.0])  # variance along one axis only, |axis| = 3
    points, explained = figures.principal_plane(line)
    assert points.shape == (50, 2)
    assert explained[0] == pytest.approx(1.0)
    # The first coordinate is the position along the line: t·3 about its mean, up to sign.
    np.testing.assert_allclose(np.abs(points[:, 0]), np.abs(3 * (t - t.mean())), rtol=1e-9)


def test_probe_separates_separable_classes():
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 3
    features = np.eye(3)[labels] * 5 + rng.normal(size=(300, 3))
    accuracy = probe.probe_accuracy(features[:200], labels[:200], features[200:], labels[200:])
    assert accuracy > 0.95
    # Same features, same accuracy; a constant feature (an always-black pixel) changes nothing.
    constant = np.hstack([features, np.zeros((300, 1))])
    assert probe.probe_accuracy(constant[:200], labels[:200], constant[200:], labels[200:]) == (
        accuracy
    )


def test_probe_on_noise_is_near_chance():
    # 20 noise features fit 300 training rows to ~47 %; on fresh rows only chance (1/3) is left.
    rng = np.random.default_rng(0)
    labels = np.arange(600) % 3
    noise = rng.normal(size=(600, 20))
    accuracy = probe.probe_accuracy(noise[:300], labels[:300], noise[300:], labels[300:])
    assert 0.25 < accuracy < 0.42
