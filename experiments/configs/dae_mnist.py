"""Anchor: the keras.io "Convolutional autoencoder for image denoising" example on MNIST.

The keras.io recipe (Gaussian noise 0.4, batch 128, Adam 1e-3, binary cross-entropy), with a
512-value dense code, two convolutions per block, U-Net skip connections and a cosine schedule
over 50 epochs (fresh noise every step). `python -m experiments.run_anchors --only=dae-mnist`
also trains the keras.io denoiser side by side, as published, on the same images.

Headline (10,000 test images, σ 0.4): 11.00 → 23.13 dB, the keras.io denoiser side by side
21.61 dB (+1.52 dB). Nine screens, their figures, Fashion-MNIST and the sprites twin:
experiments/results/dae_mnist.md.

Command (MNIST prepared in the TFDS data dir; offline: `make data`, then add
--dataset=idx:data/mnist):
    python -m convae_tf.train --config=experiments/configs/dae_mnist.py
    python -m convae_tf.evaluate --workdir=runs/anchors/dae-mnist   # denoising.gaussian_0.4
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "dae"
    config.dataset = "mnist"
    config.epochs = 50
    # The keras.io recipe (batch 128, Adam 1e-3), pinned though today's defaults match it.
    config.batch_size = 128
    config.learning_rate = 1e-3
    # Decayed to 0 over the 50 epochs: +0.18 dB on validation over a constant rate (third screen).
    config.lr_schedule = "cosine"
    config.latent_dim = 512
    config.model_args = {
        "filters": (32, 64),
        "block_convs": 2,
        "decoder_block": "transpose",
        "output_layer": "transpose",
        # Not MSE: through the sigmoid it collapses to a constant image on sprites (second screen).
        "reconstruction_loss": "bce",
        "gaussian_std": 0.4,
        # U-Net skip connections: +0.45 dB on validation over the 50 epochs (fifth screen).
        "skip_connections": True,
    }
    config.workdir = "runs/anchors/dae-mnist"
    return config
