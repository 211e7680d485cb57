"""Shipped model: exported_models/denoise-photo, a blind denoiser of colour photographs.

A U-Net denoising autoencoder (RED-Net's family: a convolutional encoder-decoder with skip
connections, Mao et al. 2016; three blocks of two convolutions, 48/96/192 channels, a
convolutional code, so it runs on photos of any size) that outputs the correction to the noisy
input, not the photo (residual learning, as DnCNN does), trained on random 64×64 crops of the
training photos at several scales, with blind Gaussian noise: σ drawn per crop in [0, 50/255]
(as DnCNN-B trains, Zhang et al. 2017), mean squared error, cosine schedule.

Commands (`make data-photos` first; 2 cores). Version 5 is four runs, each from the previous
one's weights (--init_from) with a new cosine: 4,500 steps from 5e-4, then 7,800 from 4e-4 and
12,000 from 3e-4 with each crop's error weighted by its noise level (`noise_balance`):
    python -m experiments.photo_pyramid      # data/photos/pyramid: each photo at 1×, ½×, ¼×, …
    python -m convae_tf.train --config=experiments/configs/denoise_photo.py
    python -m convae_tf.train --config=experiments/configs/denoise_photo.py --epochs=15 \
        --init_from=runs/denoise-photo --learning_rate=5e-4 --workdir=runs/denoise-photo-more
    python -m convae_tf.train --config=experiments/configs/denoise_photo.py --epochs=26 \
        --init_from=runs/denoise-photo-more --learning_rate=4e-4 \
        --model_args=noise_balance=0.04 --workdir=runs/denoise-photo-balanced
    python -m convae_tf.train --config=experiments/configs/denoise_photo.py --epochs=40 \
        --init_from=runs/denoise-photo-balanced --learning_rate=3e-4 --seed=3 \
        --model_args=noise_balance=0.02 --workdir=runs/denoise-photo-long
    python -m convae_tf.export --workdir=runs/denoise-photo-long \
        --out=exported_models/denoise-photo --quantize=float32,int8
    python -m experiments.photo_validation --models=exported_models/denoise-photo,NEW  # choose
    python -m experiments.photo_denoise      # side by side with BM3D and NL-means

Training: 80 + 64 min on 2 AMD EPYC cores (no AMX), then 46 + 76 min on 2 Intel Xeon cores with
AMX; export 84 s (Intel). Figures: experiments/results/photo_denoise.md; runs tried and not
shipped: experiments/results/denoise_photo.md.
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "dae"
    config.dataset = "folder:data/photos/pyramid"
    config.crop = (64, 64)
    # Several crops per decoded photo: decoding a 6-megapixel PNG costs more than a step.
    config.crops_per_image = 32
    config.batch_size = 32
    config.epochs = 20
    config.steps_per_epoch = 300
    config.lr_schedule = "cosine"
    config.test_examples = 256
    # A 8×8×64 code map at 64×64: with skip connections the detail need not pass through it.
    config.latent_dim = 4096
    config.model_args = {
        "gaussian_std": (0.0, 0.196),
        "bottleneck": "conv",
        "skip_connections": True,
        "block_convs": 2,
        "filters": (48, 96, 192),
        # PSNR is what the benchmark and users measure: the loss it is a function of.
        "reconstruction_loss": "mse",
        # Learn the correction, not the photo (DnCNN): at σ = 15 the identity is nearly right.
        "residual": True,
    }
    config.workdir = "runs/denoise-photo"
    return config
