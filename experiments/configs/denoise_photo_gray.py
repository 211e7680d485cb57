r"""Shipped model: exported_models/denoise-photo-gray, the gray twin of denoise_photo.py.

A gray photo in a colour model's three channels carries the same noise in each, which a colour
denoiser never saw in training: this model, trained on the luminance of the same photos, restores
gray photos (`convae-predict --model=A,B` gives each photo the model of its channel count). Same
network and training as denoise_photo.py (read by this recipe), on gray crops. Version 6 is five
runs, each from the last one's weights with a new cosine; the last three weight each crop's error
by its noise level (noise_balance), the last adds two convolutions at full resolution (deepen.py):
    python -m experiments.photo_pyramid --gray --out=data/photos/pyramid-gray
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py --epochs=6 \
        --init_from=runs/denoise-photo-gray --learning_rate=3e-4 --workdir=runs/dpg-more
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py --epochs=6 \
        --init_from=runs/dpg-more --learning_rate=3e-4 --model_args=noise_balance=0.04 \
        --workdir=runs/dpg-balanced  # again from it: --epochs=15, --workdir=runs/dpg-longer
    python -m experiments.deepen --source=runs/dpg-longer --block_convs=4,2,2 \
        --out=runs/dpg-deepened/model.keras
    python -m convae_tf.train --config=experiments/configs/denoise_photo_gray.py --epochs=38 \
        --init_from=runs/dpg-deepened/model.keras --model_args=block_convs=4,2,2 --seed=5 \
        --model_args=noise_balance=0.04 --learning_rate=3e-4 --workdir=runs/dpg-deep422
    python -m convae_tf.export --workdir=runs/dpg-deep422 --out=exported_models/denoise-photo-gray
Training 84, 24 and 25 min (AMD EPYC), then 28 and 71 min (Intel Xeon, AMX), chosen with
`experiments/photo_validation.py --gray`. Figures: experiments/results/photo_denoise.md; the runs:
experiments/results/denoise_photo.md.
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
