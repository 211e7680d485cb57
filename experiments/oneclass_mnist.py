"""Anchor: the one-class MNIST protocol of Ruff et al. 2018 ("Deep One-Class Classification",
ICML; their DCAE baseline is a convolutional autoencoder scored by reconstruction error).

Protocol: train on the training images of one digit only (the normal class), score the whole
test set (10 000 images: about 1 000 normal, 9 000 anomalous) and report the AUROC, for each of
the ten digits. Differences: Ruff et al. preprocess with global contrast normalisation and
min-max scaling, score by MSE and train longer (their DCAE: 250 + 100 epochs); here raw
[0, 1] pixels, binary cross-entropy (see below) and the epochs below. Compare the AUROC per
digit with their Table 1 (DCAE row).

Command for one digit (experiments/run_anchors.py runs all ten):
    python -m convae_tf.train --config=experiments/oneclass_mnist.py --normal_classes=3 \
        --workdir=runs/anchors/oneclass-mnist-3
    python -m convae_tf.evaluate --workdir=runs/anchors/oneclass-mnist-3   # anomaly.auroc
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "ae"
    config.dataset = "mnist"
    config.epochs = 30
    config.latent_dim = 32
    # BCE, not Ruff et al.'s MSE: with MSE on sigmoid outputs this network stayed at the mean
    # image for 5 epochs on sprites (test MSE 0.054, AUROC 0.39 for shape 0), while BCE
    # learned (test MSE 0.012, AUROC 0.64). The anomaly score is then the per-pixel BCE.
    config.model_args = {"filters": (32, 64), "reconstruction_loss": "bce"}
    config.normal_classes = (0,)
    config.workdir = "runs/anchors/oneclass-mnist-0"
    return config
