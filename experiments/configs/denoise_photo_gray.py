"""Shipped model: exported_models/denoise-photo-gray, the gray twin of denoise_photo.py.

A gray photo in a colour model's three channels carries the same noise in each, which a colour
denoiser never saw in training (its noise is independent per channel): this model, trained on
the luminance of the same photos, restores gray photos; `convae-predict` gives each photo the
model of its channel count when given both (`--model=A,B`).

The same network and training as denoise_photo.py (which this recipe reads), on gray crops,
without its residual learning (see get_config).

Commands (`make data-photos` first; 2 cores):
    python -m experiments.photo_pyramid --gray --out=data/photos/pyramid-gray
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py
    python -m convae_tf.export --workdir=runs/denoise-photo-gray \
        --out=exported_models/denoise-photo-gray --quantize=float32,int8

Training took 56 min on 2 Intel Xeon cores (AMX), sharing them with the other photo models'
training for its first 20 min; export 64 s.
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
    # The shipped gray model (version 1) predates residual learning in the colour recipe;
    # retrain with it (drop this line) for the next version.
    config.model_args["residual"] = False
    config.workdir = "runs/denoise-photo-gray"
    return config
