"""Anchor: the keras.io "Variational AutoEncoder" example (fchollet) on MNIST.

keras.io trains a convolutional VAE with a 2-D latent space on MNIST (train and test digits
together), 30 epochs, batch 128, Adam, loss = binary cross-entropy summed over pixels + KL, and
shows the 2-D latent plane and a grid of decoded digits. Here: the same latent size, epochs,
batch, optimiser and likelihood, trained on the train split only, with this zoo's encoder
(Conv2D + max-pool blocks (32, 64), where keras.io uses stride-2 convolutions).
On Fashion-MNIST, unchanged (`make data-fashion`, then `python -m experiments.run_anchors
--only=vae-fashion --fashion_mnist=idx:data/fashion_mnist`): negative ELBO at the posterior mean
260.8 nats on the 10,000 test images against 261.7 for the keras.io VAE side by side, a margin of
0.3% where MNIST's is 1.5% (150.4 against 152.9).

Command (MNIST prepared in the TFDS data dir; offline: `make data`, then add
--dataset=idx:data/mnist):
    python -m convae_tf.train --config=experiments/vae_mnist.py
    python -m convae_tf.evaluate --workdir=runs/anchors/vae-mnist
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "vae"
    config.dataset = "mnist"
    config.epochs = 30
    # The keras.io recipe (batch 128, Adam 1e-3), pinned though today's defaults match it.
    config.batch_size = 128
    config.learning_rate = 1e-3
    config.latent_dim = 2
    config.model_args = {"filters": (32, 64), "reconstruction_loss": "bce", "beta": 1.0}
    config.workdir = "runs/anchors/vae-mnist"
    return config
