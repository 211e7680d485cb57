"""The fitted anomaly score: how far an image's reconstruction and its code are from those of
held-out normal images.

A raw reconstruction error ranks anomalies that are simpler than the normal images as normal:
an autoencoder of 2s rebuilds a 1 (few ink pixels) with a small error. Their codes, though,
fall where no normal code lies. So after training, a Gaussian is fitted to the codes of
held-out normal images (the validation split; Ledoit-Wolf shrinkage, so a few hundred images
suffice for 32 or 64 dimensions), and the score of an image is

    score = z(log MSE(x, reconstruction)) + z(Mahalanobis²(code))

each term standardised (z) by its mean and spread on those same held-out images, so neither
dominates by its units. MSE rather than the training loss: it does not grow with the ink of a
binary image the way cross-entropy does; its log, because errors spread over orders of
magnitude. The code term stays linear (it is the Gaussian's negative log-density up to a
constant): a log would reward codes at the very centre without bound, so that an input whose
code lands on the mean (noise can) would look the most normal of all. Before fitting, `score`
is the model's own reconstruction score.

On one-class MNIST the sum ranked better than either term alone; it was chosen on the train
split (held-out normal digits against the other digits' train images, which one-class training
never reads), not on test labels.
"""

from __future__ import annotations

import numpy as np
from keras import ops
from sklearn.covariance import LedoitWolf

from convae_tf.models import losses

# Keeps the logs finite for a perfect reconstruction or a code at the mean.
EPSILON = 1e-12
# Held-out images used to fit: enough for the covariance of a 64-d code, and bounded in memory.
FIT_IMAGES = 10_000


def per_image_mse(images, logits):
    """Mean squared error of each image's reconstruction (sigmoid of the logits), (batch,):
    the models' "mse" reconstruction error."""
    return losses.reconstruction_error(ops.cast(images, "float32"), logits, "mse", "mean")


def mahalanobis(codes, location, precision):
    """Squared Mahalanobis distance of each code, (batch,)."""
    centred = codes - location
    return ops.sum(ops.matmul(centred, precision) * centred, axis=-1)


def combined(mse, distance, scales):
    """z(log mse) + z(distance), with scales = (mean, std) of each on normal data."""
    log_mse = ops.log(mse + EPSILON)
    return (log_mse - scales[0]) / scales[1] + (distance - scales[2]) / scales[3]


def fit_statistics(codes: np.ndarray, mse: np.ndarray) -> dict[str, np.ndarray]:
    """The score's statistics from the codes and reconstruction MSEs of normal images."""
    covariance = LedoitWolf().fit(codes.astype(np.float64))
    distance = covariance.mahalanobis(codes.astype(np.float64))
    terms = [np.log(mse.astype(np.float64) + EPSILON), distance]
    scales = [value for term in terms for value in (term.mean(), max(term.std(), 1e-6))]
    return {
        "location": covariance.location_.astype(np.float32),
        "precision": covariance.precision_.astype(np.float32),
        "scales": np.asarray(scales, np.float32),
    }
