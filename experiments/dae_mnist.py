"""Anchor: the keras.io "Convolutional autoencoder for image denoising" example on MNIST.

keras.io adds Gaussian noise with factor 0.4 (clipped to [0, 1]), trains a convolutional
autoencoder (Conv2D 32 + max-pool, twice; Conv2DTranspose back up; binary cross-entropy,
Adam, batch 128) to map noisy digits to clean ones, and shows noisy / denoised rows. Its
network has no dense bottleneck (7×7×32 feature maps); this zoo's models do, so the code is
wide (64). keras.io first trains 50 epochs on clean images then 100 on noisy ones; here one
run of 50 epochs on noisy inputs (fresh noise every step).

Command (MNIST prepared in the TFDS data dir; offline: `make data`, then add
--dataset=idx:data/mnist):
    python -m convae_tf.train --config=experiments/dae_mnist.py
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
    config.latent_dim = 64
    config.model_args = {
        "filters": (32, 32),
        "decoder_block": "transpose",
        "reconstruction_loss": "bce",
        "gaussian_std": 0.4,
    }
    config.workdir = "runs/anchors/dae-mnist"
    return config
