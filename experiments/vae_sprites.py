"""The keras.io VAE recipe (latent 2, 30 epochs, batch 128, Bernoulli likelihood) on the
embedded sprites data: the offline twin of experiments/vae_mnist.py.

Command:
    python -m convae_tf.train --config=experiments/vae_sprites.py
    python -m convae_tf.evaluate --workdir=runs/anchors/vae-sprites
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "vae"
    config.dataset = "sprites"
    config.epochs = 30
    # The keras.io recipe (batch 128, Adam 1e-3), pinned though today's defaults match it.
    config.batch_size = 128
    config.learning_rate = 1e-3
    config.latent_dim = 2
    config.model_args = {"filters": (32, 64), "reconstruction_loss": "bce", "beta": 1.0}
    config.workdir = "runs/anchors/vae-sprites"
    return config
