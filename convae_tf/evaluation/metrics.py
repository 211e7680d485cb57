"""Metric maths on numpy arrays: image quality, ranking quality, likelihood helpers.

Pure functions (no model, no files), each checked against hand-computed values in
`tests/test_metrics.py`. Images are float arrays in [0, 1] shaped (N, H, W, C).
"""

from __future__ import annotations

import math

import numpy as np

# PSNR is infinite for identical images; capping the MSE keeps means and JSON finite. 1e-10 is
# 100 dB, far above anything a lossy reconstruction reaches.
MIN_MSE = 1e-10


# ------------------------------------------------------------------------------ image quality
def per_image_mse(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mean squared error of each image, shape (N,)."""
    diff = np.asarray(images, np.float64) - np.asarray(targets, np.float64)
    return np.mean(np.square(diff).reshape(len(diff), -1), axis=1)


def psnr_from_mse(mse, max_val: float = 1.0):
    """10·log10(max_val² / mse) in dB, with mse floored at `MIN_MSE`."""
    return 10.0 * np.log10(max_val**2 / np.maximum(np.asarray(mse, np.float64), MIN_MSE))


def per_image_psnr(images: np.ndarray, targets: np.ndarray, max_val: float = 1.0) -> np.ndarray:
    """PSNR of each image in dB, shape (N,) (what `tf.image.psnr` gives, capped at 100 dB)."""
    return psnr_from_mse(per_image_mse(images, targets), max_val)


def masked_psnr(images: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
    """PSNR of the squared error pooled over every pixel where `mask` is true.

    Pooled over the whole set rather than averaged per image: a hole that falls on pixels the
    corruption leaves unchanged (black background set to black) has an error of exactly 0, an
    infinite per-image PSNR that would swamp the mean.
    """
    mask = np.broadcast_to(np.asarray(mask, bool), np.shape(images))
    if not mask.any():
        raise ValueError("the mask selects no pixel")
    diff = np.asarray(images, np.float64)[mask] - np.asarray(targets, np.float64)[mask]
    return float(psnr_from_mse(np.mean(np.square(diff))))


def ssim_filter_size(height: int, width: int, preferred: int = 11) -> int:
    """SSIM's Gaussian window, shrunk to fit small images: `tf.image.ssim` needs the image to be
    at least as large as the window (11 by default, sized for photographs)."""
    size = min(preferred, height, width)
    return size if size % 2 else size - 1  # odd, so that the window has a centre


def per_image_ssim(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """SSIM of each image against its target (max_val 1), shape (N,)."""
    import tensorflow as tf  # only here: the rest of the module is numpy

    height, width = np.shape(images)[1:3]
    size = ssim_filter_size(height, width)
    return tf.image.ssim(
        tf.convert_to_tensor(images, tf.float32),
        tf.convert_to_tensor(targets, tf.float32),
        max_val=1.0,
        filter_size=size,
        filter_sigma=1.5 * size / 11,  # keep the default's sigma-to-window ratio
    ).numpy()


# --------------------------------------------------------------------------- ranking quality
def _check_binary(scores, positive) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, np.float64).ravel()
    positive = np.asarray(positive, bool).ravel()
    if scores.shape != positive.shape:
        raise ValueError(f"{scores.size} scores but {positive.size} labels")
    if not positive.any() or positive.all():
        raise ValueError("needs both positive and negative examples")
    return scores, positive


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks in ascending order, ties sharing the mean of their ranks."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def auroc(scores, positive) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting
    1/2 (the Mann-Whitney U statistic over n_pos·n_neg)."""
    scores, positive = _check_binary(scores, positive)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    rank_sum = average_ranks(scores)[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _cumulative_counts(scores, positive):
    """True and false positives when flagging every score ≥ each distinct threshold,
    thresholds from the highest down (tied scores enter together)."""
    order = np.argsort(-scores, kind="mergesort")
    ranked_scores, ranked_positive = scores[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked_scores)), len(scores) - 1]
    true_pos = np.cumsum(ranked_positive)[last_of_tie]
    false_pos = last_of_tie + 1 - true_pos
    return true_pos, false_pos, ranked_scores[last_of_tie]


def roc_curve(scores, positive) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates, thresholds), from (0, 0) to (1, 1)."""
    scores, positive = _check_binary(scores, positive)
    true_pos, false_pos, thresholds = _cumulative_counts(scores, positive)
    fpr = np.r_[0.0, false_pos / (~positive).sum()]
    tpr = np.r_[0.0, true_pos / positive.sum()]
    return fpr, tpr, np.r_[np.inf, thresholds]


def auprc(scores, positive) -> float:
    """Area under the precision-recall curve as average precision: Σ (R_n − R_{n−1}) · P_n over
    the distinct thresholds (no interpolation between points, which would overestimate it)."""
    scores, positive = _check_binary(scores, positive)
    true_pos, false_pos, _ = _cumulative_counts(scores, positive)
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / positive.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def percentile_threshold(normal_scores, percentile: float) -> float:
    """The score below which `percentile` % of held-out normal examples fall."""
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile={percentile} must be in [0, 100]")
    return float(np.percentile(np.asarray(normal_scores, np.float64), percentile))


def precision_recall_at(scores, positive, threshold: float) -> dict[str, float]:
    """Precision and recall of flagging `score > threshold` as positive."""
    scores, positive = _check_binary(scores, positive)
    flagged = scores > threshold
    true_pos = int(np.sum(flagged & positive))
    return {
        "precision": true_pos / int(flagged.sum()) if flagged.any() else 0.0,
        "recall": true_pos / int(positive.sum()),
        "false_positive_rate": float(np.mean(flagged[~positive])),
    }


# ---------------------------------------------------------------------------- latent codes
def log_mean_exp(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """log(mean(exp(values))) along `axis`, without overflow."""
    values = np.asarray(values, np.float64)
    peak = np.max(values, axis=axis, keepdims=True)
    out = peak + np.log(np.mean(np.exp(values - peak), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis)


def log_normal(x: np.ndarray, mean, log_var) -> np.ndarray:
    """log N(x; mean, exp(log_var)) summed over the last axis."""
    x = np.asarray(x, np.float64)
    return -0.5 * np.sum(
        np.log(2.0 * math.pi) + log_var + np.square(x - mean) / np.exp(log_var), axis=-1
    )


def active_units(posterior_means: np.ndarray, threshold: float = 0.01) -> int:
    """Latent units whose posterior mean varies over the data: Cov_x(E_q[z_u]) > threshold
    (Burda et al. 2016). An inactive unit encodes nothing about x (posterior collapse)."""
    return int(np.sum(np.var(np.asarray(posterior_means, np.float64), axis=0) > threshold))


def gaussian_kl_per_dim(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """KL(N(mean, exp(log_var)) ‖ N(0, 1)) of each latent dimension, averaged over examples."""
    mean, log_var = np.asarray(mean, np.float64), np.asarray(log_var, np.float64)
    return np.mean(0.5 * (np.exp(log_var) + np.square(mean) - 1.0 - log_var), axis=0)


def pca_2d(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes projected on their two principal axes, and the share of variance each explains.

    Codes of one or two dimensions are returned as they are (padded with zeros to two)."""
    codes = np.asarray(codes, np.float64)
    if codes.shape[1] <= 2:
        padded = np.pad(codes, ((0, 0), (0, 2 - codes.shape[1])))
        return padded, np.full(2, np.nan)
    centred = codes - codes.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    explained = np.square(singular) / max(np.sum(np.square(singular)), 1e-300)
    return centred @ axes[:2].T, explained[:2]


def per_image_bce_from_logits(images: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Mean binary cross-entropy per image between targets in [0, 1] and decoder logits, in the
    stable form max(l, 0) − l·x + log(1 + exp(−|l|)) (what the models train on)."""
    x, logits = np.asarray(images, np.float64), np.asarray(logits, np.float64)
    per_pixel = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    return per_pixel.reshape(len(per_pixel), -1).mean(axis=1)
