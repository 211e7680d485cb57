"""Anchor: the one-class MNIST protocol of Ruff et al. 2018 ("Deep One-Class Classification",
ICML; their DCAE baseline is a convolutional autoencoder scored by reconstruction error).

Protocol: train on the training images of one digit (the normal class), score the whole test set
and report the AUROC, for each of the ten digits. The recipe: a VAE (latent 32, binary
cross-entropy, 30 epochs on raw [0, 1] pixels), scored by the fitted anomaly score every training
run gets (models/anomaly.py), chosen on the train split only.

Headline (test AUROC, mean over the ten digits): 0.972; the raw negative ELBO 0.898. Per digit,
how it was chosen, Fashion-MNIST: experiments/results/oneclass_mnist.md.

Command for one digit (experiments/run_anchors.py runs all ten; offline, add
--dataset=idx:data/mnist after `make data`):
    python -m convae_tf.train --config=experiments/configs/oneclass_mnist.py --normal_classes=3 \
        --workdir=runs/anchors/oneclass-mnist-3
    python -m convae_tf.evaluate --workdir=runs/anchors/oneclass-mnist-3   # anomaly.auroc
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "vae"
    config.dataset = "mnist"
    config.epochs = 30
    config.latent_dim = 32
    config.model_args = {"filters": (32, 64), "reconstruction_loss": "bce"}
    config.normal_classes = (0,)
    config.workdir = "runs/anchors/oneclass-mnist-0"
    return config
