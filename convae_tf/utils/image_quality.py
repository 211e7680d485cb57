"""Per-image MSE and PSNR on numpy images in [0, 1], shaped (N, H, W, C).

The one PSNR of the package: evaluation's metrics.json and the export's model card both use
it, so that their dB values compare. It lives in utils because deploy may not import evaluation.
"""

from __future__ import annotations

import numpy as np

# PSNR is infinite for identical images; flooring the MSE keeps means and JSON finite. 1e-10 is
# 100 dB, far above anything a lossy reconstruction reaches.
MIN_MSE = 1e-10


def per_image_mse(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mean squared error of each image, shape (N,), in float64."""
    diff = np.asarray(images, np.float64) - np.asarray(targets, np.float64)
    return np.mean(np.square(diff).reshape(len(diff), -1), axis=1)


def psnr_from_mse(mse, max_val: float = 1.0):
    """10·log10(max_val² / mse) in dB, with mse floored at `MIN_MSE` (at most 100 dB)."""
    return 10.0 * np.log10(max_val**2 / np.maximum(np.asarray(mse, np.float64), MIN_MSE))


def per_image_psnr(images: np.ndarray, targets: np.ndarray, max_val: float = 1.0) -> np.ndarray:
    """PSNR of each image in dB, shape (N,) (what `tf.image.psnr` gives, capped at 100 dB)."""
    return psnr_from_mse(per_image_mse(images, targets), max_val)
