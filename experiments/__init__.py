"""Experiments on convae_tf, run from the repository root as modules:

    python -m experiments.benchmark           # against the keras.io autoencoders (make bench)
    python -m experiments.layer_speed         # the keras.io VAE's step taken apart (bench-layers)
    python -m experiments.precision_quality   # test −ELBO by training precision
    python -m experiments.export_sizes        # size, parity, latency per export (make export-sizes)
    python -m experiments.run_anchors         # train + evaluate the anchor experiments
    python -m experiments.side_by_side        # a keras.io reference beside a finished run

The experiment files (`*_sprites.py`, `*_mnist.py`) are configs, loaded by path:
`python -m convae_tf.train --config=experiments/vae_sprites.py`.

The scripts share: `references` (the keras.io models as published), `ours` (our models under
train.py's recipe), `datasets`, `timing`, `inference` (export + runners per engine), `quality`
(time to quality) and `report` (results files, the benchmark's tables, README blocks);
`transpose_rewrites` holds the Conv2DTranspose rewrites that layer_speed times. Results go to
`experiments/results/`. Run as modules, the scripts are as quiet as the CLIs: TensorFlow's
start-up lines are held back (convae_tf/utils/quiet.py), unless -v 0 or TF_CPP_MIN_LOG_LEVEL asks.
"""
