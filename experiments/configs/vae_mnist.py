"""Anchor: the keras.io "Variational AutoEncoder" example (fchollet) on MNIST.

keras.io's latent size (2), epochs (30), batch (128), optimiser (Adam) and likelihood (binary
cross-entropy summed over pixels + KL), trained on the train split only (keras.io trains on train
and test together), with this zoo's encoder: Conv2D + max-pool blocks (32, 64) where keras.io
uses stride-2 convolutions. `python -m experiments.run_anchors --only=vae-mnist` also trains the
keras.io VAE side by side on the same images.

Headline (10,000 test images): negative ELBO at the posterior mean 150.4 nats against 152.9 for
the keras.io VAE side by side. Fashion-MNIST and the rest: experiments/results/vae_mnist.md.

Command (MNIST prepared in the TFDS data dir; offline: `make data`, then add
--dataset=idx:data/mnist):
    python -m convae_tf.train --config=experiments/configs/vae_mnist.py
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
