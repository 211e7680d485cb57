"""Denoisers compared on the validation photos only: how a new version of a shipped denoiser is
chosen (the test images of photo_denoise.py are never used to choose).

    python -m experiments.photo_validation --models=exported_models/denoise-photo,/tmp/candidate
    python -m experiments.photo_validation --gray --models=exported_models/denoise-photo-gray,...

The validation photos of `make data-photos` (data/photos/validation, held out of training),
each reduced to at most --max_side pixels on its long side (Lanczos, as photo_pyramid.py
scales), in colour or, with --gray, as their luminance; Gaussian noise at each σ added as the
benchmark adds it (experiments/photo_corruption.py, fixed seed); each model through the whole
`python -m convae_tf.predict` command, as a user runs it. Prints and writes the mean PSNR (dB)
per model and σ to experiments/results/photo_validation[_gray].md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from experiments import photo_corruption as corrupt
from experiments import report
from experiments.photo_denoise import REPO, SIGMAS, predict_command, psnr_ssim


def say(message: str) -> None:
    print(f"[photo_validation] {message}", flush=True)


def validation_images(folder: Path, max_side: int, gray: bool) -> dict[str, np.ndarray]:
    """The photos of `folder` by stem, long side at most `max_side`, uint8 gray or RGB."""
    images = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in corrupt.IMAGE_SUFFIXES:
            continue
        with Image.open(path) as opened:
            photo = opened.convert("L" if gray else "RGB")
        scale = max_side / max(photo.size)
        if scale < 1:
            size = (round(photo.width * scale), round(photo.height * scale))
            photo = photo.resize(size, Image.Resampling.LANCZOS)
        images[path.stem] = np.asarray(photo)
    if not images:
        raise SystemExit(f"no photos in {folder}: run `make data-photos` first")
    return images


def mean_psnr(model: str, images: dict[str, np.ndarray], noisy: Path, work: Path) -> float:
    output = work / "denoised"
    predict_command(model, "reconstruct", noisy, output)
    scores = [
        psnr_ssim(clean, corrupt.read_png(output / f"{name}.png"))[0]
        for name, clean in images.items()
    ]
    return float(np.mean(scores))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True, help="model folders or files, comma-separated")
    parser.add_argument("--photos", default=str(REPO / "data" / "photos" / "validation"))
    parser.add_argument("--gray", action="store_true", help="the photos' luminance")
    parser.add_argument("--max_side", type=int, default=1024)
    parser.add_argument("--sigmas", default=",".join(map(str, SIGMAS)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(report.RESULTS))
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    images = validation_images(Path(args.photos), args.max_side, args.gray)
    sigmas = [int(s) for s in args.sigmas.split(",")]
    models = [m for m in args.models.split(",") if m]
    table = {model: {} for model in models}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        corrupt.write_noisy(images, sigmas, work / "noisy", args.seed)
        for sigma in sigmas:
            for index, model in enumerate(models):
                noisy = work / "noisy" / f"sigma{sigma}"
                psnr = mean_psnr(model, images, noisy, work / f"model{index}" / f"sigma{sigma}")
                table[model][sigma] = round(psnr, 3)
                say(f"{model} σ={sigma}: {psnr:.2f} dB")
    kind = "gray" if args.gray else "colour"
    lines = [
        f"# Denoisers on the validation photos ({kind})",
        "",
        f"`{report.command('photo_validation', argv)}` — {len(images)} photos "
        f"({', '.join(images)}), long side at most {args.max_side} px, seed {args.seed}. "
        "Mean PSNR (dB).",
        "",
        "| model | " + " | ".join(f"σ {s}" for s in sigmas) + " |",
        "| --- |" + " ---: |" * len(sigmas),
        *(f"| {m} | " + " | ".join(f"{table[m][s]:.2f}" for s in sigmas) + " |" for m in models),
    ]
    stem = "photo_validation_gray" if args.gray else "photo_validation"
    result = {"photos": list(images), "max_side": args.max_side, "psnr": table}
    report.write_results(Path(args.out), stem, result, "\n".join(lines) + "\n")
    print("\n".join(lines[4:]))
    return result


if __name__ == "__main__":
    main()
