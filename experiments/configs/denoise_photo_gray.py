"""Shipped model: exported_models/denoise-photo-gray, the gray twin of denoise_photo.py.

A gray photo in a colour model's three channels carries the same noise in each, which a colour
denoiser never saw in training (its noise is independent per channel): this model, trained on
the luminance of the same photos, restores gray photos; `convae-predict` gives each photo the
model of its channel count when given both (`--model=A,B`). The same network and training as
denoise_photo.py (which this recipe reads), residual learning included, on gray crops.

Commands (`make data-photos` first; 2 cores). Version 5 is four runs: this recipe, then 1,800
more steps from the previous weights with a new cosine from 3e-4 (--init_from), then 1,800 and
4,500 more the same way with each crop's error weighted by its noise level (`noise_balance`,
models/dae.py):
    python -m experiments.photo_pyramid --gray --out=data/photos/pyramid-gray
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py \
        --init_from=runs/denoise-photo-gray --learning_rate=3e-4 --epochs=6 \
        --workdir=runs/denoise-photo-gray-more
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py \
        --init_from=runs/denoise-photo-gray-more --learning_rate=3e-4 --epochs=6 \
        --model_args=noise_balance=0.04 --workdir=runs/denoise-photo-gray-balanced
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py \
        --init_from=runs/denoise-photo-gray-balanced --learning_rate=3e-4 --epochs=15 \
        --model_args=noise_balance=0.04 --workdir=runs/denoise-photo-gray-longer
    python -m convae_tf.export --workdir=runs/denoise-photo-gray-longer \
        --out=exported_models/denoise-photo-gray --quantize=float32,int8
    python -m experiments.photo_validation --gray --models=exported_models/denoise-photo-gray,NEW

Training took 84 min (6,000 steps), with light other work beside it, then 24 min and 25 min
(1,800 steps each) on 2 AMD EPYC cores (AVX-512 bf16, no AMX), then 28 min (4,500 steps, the
test suite running beside it for 6 of them) on 2 Intel Xeon cores with AMX; export 83 s (Intel).
Figures (PSNR against BM3D at every σ): experiments/results/photo_denoise.md.
"""

import importlib.util
from pathlib import Path


def get_config():
    # The colour recipe, read from the file beside this one, on gray photos.
    colour = Path(__file__).with_name("denoise_photo.py")
    spec = importlib.util.spec_from_file_location("denoise_photo", colour)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    config = recipe.get_config()
    config.dataset = "folder:data/photos/pyramid-gray"
    config.workdir = "runs/denoise-photo-gray"
    return config
