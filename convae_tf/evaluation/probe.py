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


def probe_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
) -> float:
    """Test accuracy of the probe trained on the (flattened) training features."""
    train_x = np.asarray(train_features, np.float64).reshape(len(train_features), -1)
    test_x = np.asarray(test_features, np.float64).reshape(len(test_features), -1)
    with threadpool_limits(limits=1, user_api="blas"):
        probe = make_probe().fit(train_x, np.asarray(train_labels, int))
        return float(probe.score(test_x, np.asarray(test_labels, int)))
