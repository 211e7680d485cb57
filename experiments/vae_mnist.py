"""Anchor: the keras.io "Variational AutoEncoder" example (fchollet) on MNIST.

keras.io trains a convolutional VAE with a 2-D latent space on MNIST (train and test digits
together), 30 epochs, batch 128, Adam, loss = binary cross-entropy summed over pixels + KL, and
shows the 2-D latent plane and a grid of decoded digits. Here: the same latent size, epochs,
batch, optimiser and likelihood, trained on the train split only, with this zoo's encoder
(Conv2D + max-pool blocks (32, 64), where keras.io uses stride-2 convolutions).

Command (MNIST must be prepared in the TFDS data dir, or pass --dataset=npz:PATH/mnist.npz):
    python -m convae_tf.train --config=experiments/vae_mnist.py
    python -m convae_tf.evaluate --workdir=runs/anchors/vae-mnist
"""


def get_config():
    return {
        "model": "vae",
        "dataset": "mnist",
        "epochs": 30,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "latent_dim": 2,
        "model_args": {"filters": (32, 64), "reconstruction_loss": "bce", "beta": 1.0},
        "workdir": "runs/anchors/vae-mnist",
    }
