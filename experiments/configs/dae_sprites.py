"""The keras.io denoising recipe (Gaussian noise 0.4, batch 128) on the embedded sprites data:
the offline twin of dae_mnist.py, unchanged.

Headline (test images, σ 0.4): 11.06 → 27.24 dB. Its figures are in
experiments/results/dae_mnist.md (nothing was chosen on sprites).

Command:
    python -m convae_tf.train --config=experiments/configs/dae_sprites.py
    python -m convae_tf.evaluate --workdir=runs/anchors/dae-sprites
"""

import runpy
from pathlib import Path


def get_config():
    # The MNIST recipe itself (one copy of it), on the embedded data. Loaded by path, so that
    # --config works from any folder, like a config file that imports nothing.
    mnist = runpy.run_path(str(Path(__file__).with_name("dae_mnist.py")))
    config = mnist["get_config"]()
    config.dataset = "sprites"
    config.workdir = "runs/anchors/dae-sprites"
    return config
