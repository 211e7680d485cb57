"""The plain convolutional autoencoder on the embedded sprites data.

Command:
    python -m convae_tf.train --config=experiments/ae_sprites.py

Any flag given on the command line overrides a value here, e.g. `--epochs=2`.
"""


def get_config():
    return {
        "model": "ae",
        "dataset": "sprites",
        "epochs": 10,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "latent_dim": 16,
        "model_args": {"filters": (32, 64), "pooling": "max", "upsampling": "nearest"},
        "workdir": "runs/ae-sprites",
    }
