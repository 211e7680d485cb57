"""The plain convolutional autoencoder on the embedded sprites data: the README's example of a
config file, not an anchor, so no figure is kept for it (no results document).

Command:
    python -m convae_tf.train --config=experiments/configs/ae_sprites.py

Any flag given on the command line overrides a value here, e.g. `--epochs=2` (or
`--config.epochs=2`).
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "ae"
    config.dataset = "sprites"
    config.epochs = 10
    config.latent_dim = 16
    config.model_args = {"filters": (32, 64), "pooling": "max", "upsampling": "nearest"}
    config.workdir = "runs/ae-sprites"
    return config
