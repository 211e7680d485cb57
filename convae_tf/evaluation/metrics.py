"""Metric maths on numpy arrays: image quality, ranking quality, latent codes.

Pure functions (no model, no files), each checked against hand-computed values in
`tests/test_metrics.py`. Images are float arrays in [0, 1] shaped (N, H, W, C). One copy of each
formula: per-image MSE and PSNR are `convae_tf.utils.image_quality` (shared with the export's
model card), BCE and the Gaussian KL are the models' (`convae_tf.models.losses`), the ranking
metrics are scikit-learn's.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from sklearn import metrics as sk_metrics

from convae_tf.models import losses
from convae_tf.utils.image_quality import psnr_from_mse


# ------------------------------------------------------------------------------ image quality
def masked_psnr(images: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
    """PSNR of the squared error pooled over every pixel where `mask` is true.

    Pooled over the whole set rather than averaged per image: a hole that falls on pixels the
    corruption leaves unchanged (black background set to black) has an error of exactly 0, an
    infinite per-image PSNR that would swamp the mean. A set measured batch by batch pools
    the batches' `masked_squared_error`s into `pooled_psnr`.
    """
    return pooled_psnr(*masked_squared_error(images, targets, mask))


def masked_squared_error(images, targets, mask) -> tuple[float, int]:
    """(sum of the squared errors, number of values) over the values where `mask` (broadcast
    to the images' shape: a pixel mask covers its channels) is true, in float64."""
    mask = np.broadcast_to(np.asarray(mask, bool), np.shape(images))
    diff = np.asarray(images, np.float64)[mask] - np.asarray(targets, np.float64)[mask]
    return float(np.sum(np.square(diff))), int(diff.size)


def pooled_psnr(squared_error: float, values: int) -> float:
    """PSNR of a sum of squared errors over `values` values (`masked_squared_error`s added)."""
    if not values:
        raise ValueError("the mask selects no pixel")
    return float(psnr_from_mse(squared_error / values))


def ssim_filter_size(height: int, width: int, preferred: int = 11) -> int:
    """SSIM's Gaussian window, shrunk to fit small images: `tf.image.ssim` needs the image to be
    at least as large as the window (11 by default, sized for photographs)."""
    size = min(preferred, height, width)
    return size if size % 2 else size - 1  # odd, so that the window has a centre


def per_image_ssim(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """SSIM of each image against its target (max_val 1), shape (N,)."""
    height, width = np.shape(images)[1:3]
    size = ssim_filter_size(height, width)
    return tf.image.ssim(
        tf.convert_to_tensor(images, tf.float32),
        tf.convert_to_tensor(targets, tf.float32),
        max_val=1.0,
        filter_size=size,
        filter_sigma=1.5 * size / 11,  # keep the default's sigma-to-window ratio
    ).numpy()


def per_image_bce(images: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Per-pixel mean binary cross-entropy of each image from the decoder logits, shape (N,):
    the models' own loss function, in float64 so that a mean over a large split keeps its
    digits."""
    error = losses.reconstruction_error(
        np.asarray(images, np.float64), np.asarray(logits, np.float64), "bce", "mean"
    )
    return np.asarray(error)


# --------------------------------------------------------------------------- ranking quality
def _check_binary(scores, positive) -> tuple[np.ndarray, np.ndarray]:
    """Flat float scores and bool labels. A single class is refused here, with one message for
    every metric: scikit-learn raises for AUROC but only warns (and returns 0) for AUPRC."""
    scores = np.asarray(scores, np.float64).ravel()
    positive = np.asarray(positive, bool).ravel()
    if scores.shape != positive.shape:
        raise ValueError(f"{scores.size} scores but {positive.size} labels")
    if not positive.any() or positive.all():
        raise ValueError("needs both positive and negative examples")
    return scores, positive


def auroc(scores, positive) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting
    1/2 (the Mann-Whitney U statistic over n_pos·n_neg)."""
    scores, positive = _check_binary(scores, positive)
    return float(sk_metrics.roc_auc_score(positive, scores))


def roc_curve(scores, positive) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates, thresholds), from (0, 0) to (1, 1); the
    first threshold is +inf (nothing flagged)."""
    scores, positive = _check_binary(scores, positive)
    return sk_metrics.roc_curve(positive, scores)


def auprc(scores, positive) -> float:
    """Area under the precision-recall curve as average precision: Σ (R_n − R_{n−1}) · P_n over
    the distinct thresholds (no interpolation between points, which would overestimate it)."""
    scores, positive = _check_binary(scores, positive)
    return float(sk_metrics.average_precision_score(positive, scores))


def percentile_threshold(normal_scores, percentile: float) -> float:
    """The score below which `percentile` % of held-out normal examples fall."""
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile={percentile} must be in [0, 100]")
    return float(np.percentile(np.asarray(normal_scores, np.float64), percentile))


def precision_recall_at(scores, positive, threshold: float) -> dict[str, float]:
    """Precision and recall of flagging `score > threshold` as positive."""
    scores, positive = _check_binary(scores, positive)
    true_neg, false_pos, false_neg, true_pos = sk_metrics.confusion_matrix(
        positive, scores > threshold, labels=[False, True]
    ).ravel()
    flagged = true_pos + false_pos
    return {
        "precision": float(true_pos / flagged) if flagged else 0.0,
        "recall": float(true_pos / (true_pos + false_neg)),
        "false_positive_rate": float(false_pos / (false_pos + true_neg)),
    }


# ---------------------------------------------------------------------------- latent codes
def active_units(posterior_means: np.ndarray, threshold: float = 0.01) -> int:
    """Latent units whose posterior mean varies over the data: Cov_x(E_q[z_u]) > threshold
    (Burda et al. 2016). An inactive unit encodes nothing about x (posterior collapse)."""
    return int(np.sum(np.var(np.asarray(posterior_means, np.float64), axis=0) > threshold))


def gaussian_kl_per_dim(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """KL(N(mean, exp(log_var)) ‖ N(0, 1)) of each latent dimension, averaged over examples."""
    mean, log_var = np.asarray(mean, np.float64), np.asarray(log_var, np.float64)
    return np.mean(np.asarray(losses.gaussian_kl_per_unit(mean, log_var)), axis=0)
