"""The keras.io VAE recipe (latent 2, 30 epochs, batch 128, Bernoulli likelihood) on the
embedded sprites data: the offline twin of vae_mnist.py, unchanged.

Headline (test images): −ELBO 51.4 nats, NLL(IS, k=100) 49.8 nats, from the vae-sprites row
of experiments/results/anchors.md; the recipe's results: experiments/results/vae_mnist.md.

Command:
    python -m convae_tf.train --config=experiments/configs/vae_sprites.py
    python -m convae_tf.evaluate --workdir=runs/anchors/vae-sprites
"""

import runpy
from pathlib import Path


def get_config():
    # The MNIST recipe itself (one copy of it), on the embedded data. Loaded by path, so that
    # --config works from any folder, like a config file that imports nothing.
    mnist = runpy.run_path(str(Path(__file__).with_name("vae_mnist.py")))
    config = mnist["get_config"]()
    config.dataset = "sprites"
    config.workdir = "runs/anchors/vae-sprites"
    return config
