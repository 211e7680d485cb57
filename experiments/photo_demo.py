"""The end of `make demo`: a real photo restored by the shipped models, side by side.

    python -m experiments.photo_demo corrupt --out=runs/demo/photo   # noisy, holed, mask .png
    python -m convae_tf.predict --model=exported_models/denoise-photo \
        --input=runs/demo/photo/noisy.png --output=runs/demo/photo/denoised
    python -m convae_tf.predict --model=exported_models/inpaint-photo --task=inpaint \
        --input=runs/demo/photo/holed.png --mask=runs/demo/photo/mask.png \
        --output=runs/demo/photo/filled
    python -m experiments.photo_demo figure --out=runs/demo/photo    # side_by_side.png

`corrupt` adds Gaussian noise (σ = 25 of 255) to the photo and cuts brush-stroke holes over 15 %
of it, as the benchmark does (experiments/photo_corruption.py); `figure` draws the clean,
corrupted and restored photos in two rows, with the PSNR of each (over the holes for
inpainting), and prints them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from convae_tf.utils import figures
from experiments import photo_corruption as corrupt
from experiments import photo_denoise

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "exported_models" / "sample-photos" / "picos-de-europa.jpg"
SIGMA = 25
HOLES = 0.15
SEED = 0


def psnr(clean: np.ndarray, restored: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR over the pixels `where` is true (all of them if None), as the benchmark measures."""
    if where is None:
        where = np.ones(clean.shape[:2], bool)
    return photo_denoise.masked_psnr(clean, restored, where)


def write_corrupted(photo: Path, out: Path) -> None:
    clean = corrupt.load_image(photo)
    noisy = corrupt.add_noise(clean, SIGMA, corrupt.rng_for(SEED, photo.stem, SIGMA))
    holes = corrupt.strokes_mask(clean.shape[:2], HOLES, corrupt.rng_for(SEED, photo.stem))
    holed = clean.copy()
    holed[holes] = 0
    corrupt.write_png(out / "clean.png", clean)
    corrupt.write_png(out / "noisy.png", noisy)
    corrupt.write_png(out / "holed.png", holed)
    corrupt.write_png(out / "mask.png", holes.astype(np.uint8) * 255)
    print(
        f"[photo_demo] {photo.name}: noise σ={SIGMA} → {out / 'noisy.png'}, "
        f"{100 * holes.mean():.0f} % holes → {out / 'holed.png'} (mask {out / 'mask.png'})"
    )


def draw(out: Path) -> Path:
    clean = corrupt.read_png(out / "clean.png")
    noisy = corrupt.read_png(out / "noisy.png")
    denoised = corrupt.read_png(out / "denoised" / "noisy.png")
    holes = corrupt.read_png(out / "mask.png") > 127
    filled = corrupt.read_png(out / "filled" / "holed.png")
    holed = figures.show_holes(corrupt.read_png(out / "holed.png") / 255.0, holes[..., None])
    rows = [
        [
            ("clean", clean / 255.0),
            (f"noise σ={SIGMA}: {psnr(clean, noisy):.2f} dB", noisy / 255.0),
            (f"denoise-photo: {psnr(clean, denoised):.2f} dB", denoised / 255.0),
        ],
        [
            ("clean", clean / 255.0),
            (f"holes (magenta), {100 * holes.mean():.0f} %", holed),
            (f"inpaint-photo: {psnr(clean, filled, holes):.2f} dB in the holes", filled / 255.0),
        ],
    ]
    for row in rows:
        print("[photo_demo] " + ", ".join(title for title, _ in row[1:]))
    return figures.titled_panels(rows, out / "side_by_side.png")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("corrupt", "figure"))
    parser.add_argument("--photo", default=str(PHOTO))
    parser.add_argument("--out", default=str(REPO / "runs" / "demo" / "photo"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.step == "corrupt":
        write_corrupted(Path(args.photo), out)
    else:
        print(f"[photo_demo] restored side by side: {draw(out)}")


if __name__ == "__main__":
    main()
