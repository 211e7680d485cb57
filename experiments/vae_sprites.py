"""The keras.io VAE recipe (latent 2, 30 epochs, batch 128, Bernoulli likelihood) on the
embedded sprites data: the offline twin of experiments/vae_mnist.py.

Command:
    python -m convae_tf.train --config=experiments/vae_sprites.py
    python -m convae_tf.evaluate --workdir=runs/anchors/vae-sprites
"""


def get_config():
    return {
        "model": "vae",
        "dataset": "sprites",
        "epochs": 30,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "latent_dim": 2,
        "model_args": {"filters": (32, 64), "reconstruction_loss": "bce", "beta": 1.0},
        "workdir": "runs/anchors/vae-sprites",
    }
