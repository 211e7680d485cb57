"""Shipped model: exported_models/inpaint-photo, fills the holes of colour photographs.

A U-Net denoising autoencoder whose corruption is holes: per crop a rectangle of 10-40 % of
each side and two free-form brush strokes (DeepFill v2's random walks, Yu et al. 2019), the
holes also given to the encoder as a fourth channel (`mask_channel`, as partial-convolution
and DeepFill inpainting read them). The encoder reads the holes already filled by a harmonic
pull-push fill of the known pixels (`prefill_holes`), a first guess that reaches the middle of
holes wider than the network sees, and the decoder outputs the correction to it (`residual`).
Four blocks of one convolution, 32-256 channels, so that a pixel in a hole sees about a hundred
pixels around it; random 128×128 crops of the training photos at several scales; mean squared
error with a hole's pixels weighted 6:1 (`hole_weight`, as partial convolutions train: the
known pixels are kept exactly by `inpaint(images, masks)`, so their error matters little);
cosine schedule.

Commands (`make data-photos` first; 2 cores):
    python -m experiments.photo_pyramid      # data/photos/pyramid: each photo at 1×, ½×, ¼×, …
    python -m convae_tf.train --config=experiments/configs/inpaint_photo.py
    python -m convae_tf.export --workdir=runs/inpaint-photo --out=exported_models/inpaint-photo \
        --quantize=float32,int8

Training took 60 min (3,750 steps) on 2 AMD EPYC cores; export 5 min (int8 calibrates the
TFLite files' inpaint signature too). Version 3 is version 2's weights exported again.
Figures (PSNR over the holes against biharmonic inpainting):
experiments/results/photo_denoise.md.
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "dae"
    config.dataset = "folder:data/photos/pyramid"
    config.crop = (128, 128)
    config.crops_per_image = 16
    config.batch_size = 16
    config.epochs = 15
    config.steps_per_epoch = 250
    config.lr_schedule = "cosine"
    config.test_examples = 128
    config.latent_dim = 4096  # an 8×8×64 code map at 128×128
    config.model_args = {
        "gaussian_std": 0.0,
        "rectangles": 1,
        "rectangle_size": (0.1, 0.4),
        "strokes": 2,
        "mask_channel": True,
        "bottleneck": "conv",
        "skip_connections": True,
        "block_convs": 1,
        "filters": (32, 64, 128, 256),
        "residual": True,
        "prefill_holes": True,
        "hole_weight": 6.0,
        "reconstruction_loss": "mse",
    }
    config.workdir = "runs/inpaint-photo"
    return config
