"""The keras.io denoising recipe (Gaussian noise 0.4, batch 128) on the embedded sprites data:
the offline twin of experiments/dae_mnist.py.

Command:
    python -m convae_tf.train --config=experiments/dae_sprites.py
    python -m convae_tf.evaluate --workdir=runs/anchors/dae-sprites
"""


def get_config():
    return {
        "model": "dae",
        "dataset": "sprites",
        "epochs": 50,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "latent_dim": 64,
        "model_args": {
            "filters": (32, 32),
            "decoder_block": "transpose",
            "reconstruction_loss": "bce",
            "gaussian_std": 0.4,
        },
        "workdir": "runs/anchors/dae-sprites",
    }
