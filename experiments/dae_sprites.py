"""The keras.io denoising recipe (Gaussian noise 0.4, batch 128) on the embedded sprites data:
the offline twin of experiments/dae_mnist.py.

Command:
    python -m convae_tf.train --config=experiments/dae_sprites.py
    python -m convae_tf.evaluate --workdir=runs/anchors/dae-sprites
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "dae"
    config.dataset = "sprites"
    config.epochs = 50
    # The keras.io recipe (batch 128, Adam 1e-3), pinned though today's defaults match it.
    config.batch_size = 128
    config.learning_rate = 1e-3
    config.latent_dim = 64
    config.model_args = {
        "filters": (32, 32),
        "decoder_block": "transpose",
        "reconstruction_loss": "bce",
        "gaussian_std": 0.4,
    }
    config.workdir = "runs/anchors/dae-sprites"
    return config
