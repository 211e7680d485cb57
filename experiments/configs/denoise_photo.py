r"""Shipped model: exported_models/denoise-photo, a blind denoiser of colour photographs: a U-Net
(RED-Net's family) with a convolutional code (any size) that outputs the correction to the noisy
input (residual learning, DnCNN), on 64×64 crops of the photos at several scales, σ drawn per
crop in [0, 50/255] (DnCNN-B), MSE. Version 6 is five runs, each from the previous one's weights
with a new cosine; the last adds two convolutions at full resolution as identities (deepen.py):
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
    python -m experiments.deepen --source=runs/denoise-photo-long --block_convs=4,2,2 \
        --out=runs/deepened-422/model.keras
    python -m convae_tf.train --config=experiments/configs/denoise_photo.py --epochs=38 \
        --init_from=runs/deepened-422/model.keras --model_args=block_convs=4,2,2 --seed=5 \
        --model_args=noise_balance=0.02 --learning_rate=3e-4 --workdir=runs/denoise-photo-deep422
    python -m convae_tf.export --workdir=runs/denoise-photo-deep422 \
        --out=exported_models/denoise-photo --quantize=float32,int8
Training 80 + 64 min (AMD EPYC), 46 + 76 + 85 min (Intel Xeon, AMX), chosen with
experiments/photo_validation.py. Figures: experiments/results/photo_denoise.md; runs tried and
not shipped: experiments/results/denoise_photo.md.
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
