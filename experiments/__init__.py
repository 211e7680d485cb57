"""Experiments on convae_tf, run from the repository root as modules:

    python -m experiments.benchmark           # against the keras.io autoencoders (make bench)
    python -m experiments.layer_speed         # the keras.io VAE's step taken apart (bench-layers)
    python -m experiments.precision_quality   # test −ELBO by training precision
    python -m experiments.export_sizes        # size, parity, latency per export (make export-sizes)
    python -m experiments.run_anchors         # train + evaluate the anchor experiments
    python -m experiments.side_by_side        # a keras.io reference beside a finished run
    python -m experiments.photo_denoise       # denoise/inpaint baselines on photos (bench-photos)

    python -m experiments.input_speed         # the data path alone, against training
    python -m experiments.make_image_folder   # a folder of image files to time or train on

The recipes live apart, in `experiments/configs/`: config files loaded by path,
`python -m convae_tf.train --config=experiments/configs/vae_sprites.py`. Each docstring gives the
command and the headline figure; the screens behind a recipe and every figure they measured are
in its hand-kept `experiments/results/<recipe>.md`.

The scripts share: `references` (the keras.io models as published), `ours` (our models under
train.py's recipe), `datasets`, `timing`, `inference` (export + runners per engine), `quality`
(time to quality) and `report` (results files, the benchmark's tables, README blocks);
`transpose_rewrites` holds the Conv2DTranspose rewrites that layer_speed times;
`photo_corruption` writes the noisy and holed test photos that photo_denoise's methods read.
Results go to `experiments/results/`. Run as modules, the scripts are as quiet as the CLIs:
TensorFlow's start-up lines are held back (convae_tf/utils/quiet.py), unless -v 0 or
TF_CPP_MIN_LOG_LEVEL asks.
"""
