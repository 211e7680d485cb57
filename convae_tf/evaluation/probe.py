"""Linear probe: how much class information frozen features carry, measured by the test
accuracy of a multinomial logistic regression trained on them (scikit-learn).

The fit runs on one BLAS thread. A multi-threaded BLAS sums in an order that depends on the
thread count, so the number of lbfgs iterations and the accuracy would depend on the machine;
and on problems of a probe's size the threads cost more time than they save.
What was measured when this was chosen: experiments/results/features_mnist.md.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

MAX_ITER = 1000
DESCRIPTION = (
    "multinomial logistic regression (scikit-learn LogisticRegression: lbfgs, L2 with C=1, "
    f"at most {MAX_ITER} iterations) on features standardised with the probe's training "
    "mean and std"
)


def make_probe():
    """StandardScaler then LogisticRegression. The scaler keeps constant features (border
    pixels that are always black) at unit scale, so test features that differ from the
    constant do not blow up. lbfgs on this convex problem needs no seed."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=MAX_ITER))


def fit(features: np.ndarray, labels: np.ndarray):
    """The probe trained on the (flattened) features."""
    with threadpool_limits(limits=1, user_api="blas"):
        return make_probe().fit(_flat(features), np.asarray(labels, int))


def correct(probe, features: np.ndarray, labels: np.ndarray) -> int:
    """How many of the (flattened) features the fitted probe classifies as `labels`: summed
    over batches, the probe's accuracy on a set too large to hold at once."""
    with threadpool_limits(limits=1, user_api="blas"):
        predicted = probe.predict(_flat(features))
    return int(np.sum(predicted == np.asarray(labels, int)))


def probe_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
) -> float:
    """Test accuracy of the probe trained on the (flattened) training features."""
    probe = fit(train_features, train_labels)
    return correct(probe, test_features, test_labels) / len(test_labels)


def _flat(features: np.ndarray) -> np.ndarray:
    return np.asarray(features, np.float64).reshape(len(features), -1)
