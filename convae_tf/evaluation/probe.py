"""Linear probe: how much class information frozen features carry, measured by the test
accuracy of a multinomial logistic regression trained on them.

numpy, full-batch and seeded, so the same features always give the same accuracy (no sklearn
dependency, no Keras training loop for a convex problem of a few thousand rows).
"""

from __future__ import annotations

import numpy as np

DESCRIPTION = (
    "multinomial logistic regression (numpy): features standardised with the probe's training "
    "mean and std, L2 1e-4, {steps} full-batch Adam steps (lr 0.05), zero initialisation"
)


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(axis=0)
    # Constant features (border pixels that are always black) keep a unit scale: dividing by
    # ~0 would blow up the test features that differ from the constant.
    std = train.std(axis=0)
    std = np.where(std < 1e-6, 1.0, std)
    return (train - mean) / std, (test - mean) / std


def fit_softmax_regression(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    steps: int = 300,
    learning_rate: float = 0.05,
    l2: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray]:
    """(weights, bias) minimising the mean cross-entropy + l2·|W|²/2. Zero initialisation
    makes the result depend on the data alone (the problem is convex: no seed needed)."""
    n, d = features.shape
    targets = np.eye(num_classes)[labels]
    params = [np.zeros((d, num_classes)), np.zeros(num_classes)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        logits = features @ params[0] + params[1]
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        delta = (probs - targets) / n
        grads = [features.T @ delta + l2 * params[0], delta.sum(axis=0)]
        for p, g, m in zip(params, grads, moments, strict=True):
            m[0] = beta1 * m[0] + (1 - beta1) * g
            m[1] = beta2 * m[1] + (1 - beta2) * np.square(g)
            m_hat = m[0] / (1 - beta1**t)
            v_hat = m[1] / (1 - beta2**t)
            p -= learning_rate * m_hat / (np.sqrt(v_hat) + eps)
    return params[0], params[1]


def probe_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    steps: int = 300,
) -> float:
    """Test accuracy of a softmax regression trained on the (flattened) training features."""
    train_x = np.asarray(train_features, np.float64).reshape(len(train_features), -1)
    test_x = np.asarray(test_features, np.float64).reshape(len(test_features), -1)
    train_x, test_x = _standardise(train_x, test_x)
    weights, bias = fit_softmax_regression(
        train_x, np.asarray(train_labels, int), num_classes, steps=steps
    )
    predictions = np.argmax(test_x @ weights + bias, axis=1)
    return float(np.mean(predictions == np.asarray(test_labels)))
