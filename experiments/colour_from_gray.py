"""Is the colour denoiser short of capacity? The shipped colour denoiser against the gray one run
on each channel of a colour photo, and against their average, on the validation photos only.

    python -m experiments.colour_from_gray        # ~3 minutes on 2 cores

The shipped colour model has the gray model's widths (48/96/192) for three channels. Here, on
the validation photos of `make data-photos` (long side reduced to --max_side, noise added as the
benchmark adds it), mean PSNR (dB) of: the colour model; the gray model on each RGB channel
(what predict does with a gray model and a colour photo); the gray model on each channel of an
opponent colour space (Y = (R+G+B)/3, (R−B)/2 and (R−2G+B)/4, orthogonal, so the noise stays
independent per channel, σ/√3 on Y); and the average of the colour model's output and the
opponent one's (four networks' work). SavedModels in float32, whole photos, in-process.
Writes experiments/results/colour_from_gray.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tensorflow as tf

from convae_tf.deploy import predict
from experiments import photo_corruption as corrupt
from experiments import report
from experiments.photo_denoise import REPO, SHIPPED_DENOISERS, SIGMAS, psnr_ssim
from experiments.photo_validation import validation_images

# Rows: Y, and two colour differences; offsets put the differences in [0, 1] as the model's
# inputs are.
OPPONENT = np.array([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]])
OFFSET = np.array([0.0, 0.5, 0.5])


def signature(version: Path):
    """The reconstruction signature of the SavedModel in `version`."""
    return tf.saved_model.load(str(version)).signatures["serving_default"]


def run(model, image: np.ndarray) -> np.ndarray:
    """`model` on one (H, W, C) float image (the signature pads any size to its step itself)."""
    output = model(tf.constant(image[None], tf.float32))
    return next(iter(output.values())).numpy()[0]


def per_channel(model, image: np.ndarray) -> np.ndarray:
    return np.concatenate([run(model, image[..., c : c + 1]) for c in range(3)], axis=-1)


def opponent(model, image: np.ndarray) -> np.ndarray:
    restored = per_channel(model, image @ OPPONENT.T + OFFSET)
    return (restored - OFFSET) @ np.linalg.inv(OPPONENT).T


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default=str(REPO / "data" / "photos" / "validation"))
    parser.add_argument("--max_side", type=int, default=512)
    parser.add_argument("--out", default=str(report.RESULTS))
    args = parser.parse_args(argv)
    versions = [predict.saved_model_version_dir(folder) for folder in SHIPPED_DENOISERS]
    colour, gray = (signature(version) for version in versions)
    methods = {
        "colour model": lambda x: run(colour, x),
        "gray model per RGB channel": lambda x: per_channel(gray, x),
        "gray model per opponent channel": lambda x: opponent(gray, x),
        "average of the colour model and the opponent one": lambda x: (
            (run(colour, x) + opponent(gray, x)) / 2
        ),
    }
    images = validation_images(Path(args.photos), args.max_side, gray=False)
    table = {method: {} for method in methods}
    for sigma in SIGMAS:
        for name, clean in images.items():
            noisy = corrupt.add_noise(clean, sigma, corrupt.rng_for(0, name, sigma)) / 255.0
            for method, restore in methods.items():
                pixels = np.round(np.clip(restore(noisy), 0, 1) * 255).astype(np.uint8)
                table[method].setdefault(sigma, []).append(psnr_ssim(clean, pixels)[0])
        print(f"σ={sigma} done", flush=True)
    means = {
        m: {s: round(float(np.mean(v)), 2) for s, v in row.items()} for m, row in table.items()
    }
    lines = [
        "# The colour denoiser against the gray one per channel (validation photos)",
        "",
        f"`{report.command('colour_from_gray', argv)}` — {len(images)} photos, long side at most "
        f"{args.max_side} px, seed 0; float32 SavedModels "
        f"{' and '.join(str(v.relative_to(REPO)) for v in versions)}. Mean PSNR (dB).",
        "",
        "| method | " + " | ".join(f"σ {s}" for s in SIGMAS) + " |",
        "| --- |" + " ---: |" * len(SIGMAS),
        *(f"| {m} | " + " | ".join(f"{means[m][s]:.2f}" for s in SIGMAS) + " |" for m in means),
    ]
    report.write_results(
        Path(args.out), "colour_from_gray", {"psnr": means}, "\n".join(lines) + "\n"
    )
    print("\n".join(lines[4:]))
    return means


if __name__ == "__main__":
    main()
