"""Ruff et al. 2018's one-class protocol on the embedded sprites data (three shapes: train on
one, AUROC over the whole test set): the offline counterpart of oneclass_mnist.py, with a plain
autoencoder (latent 32, binary cross-entropy, 30 epochs).

Headline (test AUROC, mean over the three shapes): 0.726, from the oneclass-sprites row of
experiments/results/anchors.md; the loss's choice: experiments/results/oneclass_sprites.md.

Command for one shape (experiments/run_anchors.py runs all three):
    python -m convae_tf.train --config=experiments/configs/oneclass_sprites.py --normal_classes=1 \
        --workdir=runs/anchors/oneclass-sprites-1
    python -m convae_tf.evaluate --workdir=runs/anchors/oneclass-sprites-1
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "ae"
    config.dataset = "sprites"
    config.epochs = 30
    config.latent_dim = 32
    # BCE, not Ruff et al.'s MSE: with MSE on sigmoid outputs this network stayed at the mean
    # image on sprites, where BCE learned. The anomaly score is then the per-pixel BCE.
    config.model_args = {"filters": (32, 64), "reconstruction_loss": "bce"}
    config.normal_classes = (0,)
    config.workdir = "runs/anchors/oneclass-sprites-0"
    return config
