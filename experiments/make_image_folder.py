"""Writes a deterministic folder of N RGB PNGs (or JPEGs), to measure `folder:` training at scale.

    python -m experiments.make_image_folder --count=50000 --out=/tmp/f50k
    python -m experiments.make_image_folder --count=5000 --format=jpeg --out=/tmp/j5k
    python -m convae_tf.train --model=ae --epochs=1 --steps_per_epoch=20 \
        --validation_fraction=0.02 --dataset=folder:/tmp/f50k --workdir=/tmp/w50k --overwrite

Each image is a smooth random colour field (a 4×4 grid of random colours, upsampled) with a
filled ellipse on it: real PNG compression and decoding work, unlike constant images, and the
same files on every machine for the same `--count` and `--seed`. `--classes=K` puts the files
in K class subfolders (labels) instead of one flat folder. `--format=jpeg` writes the same
images as JPEGs (Pillow's default quality, 75), so that both decoders can be measured.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FORMATS = {"png": "png", "jpeg": "jpg"}  # format -> file suffix


def make_image(rng: np.random.Generator, size: int) -> Image.Image:
    field = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    image = Image.fromarray(field, "RGB").resize((size, size), Image.BILINEAR)
    x0, y0 = rng.integers(0, size // 2, size=2)
    x1, y1 = rng.integers(size // 2, size, size=2)
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
    ImageDraw.Draw(image).ellipse((int(x0), int(y0), int(x1), int(y1)), fill=colour)
    return image


def write_folder(
    out: Path,
    count: int,
    size: int = 64,
    classes: int = 0,
    seed: int = 0,
    image_format: str = "png",
) -> None:
    suffix = FORMATS[image_format]
    rng = np.random.default_rng(seed)
    digits = len(str(count - 1))
    for i in range(count):
        folder = out / f"class_{i % classes}" if classes else out
        if i < max(classes, 1):
            folder.mkdir(parents=True, exist_ok=True)
        make_image(rng, size).save(folder / f"{i:0{digits}d}.{suffix}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="number of image files")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (created)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--classes", type=int, default=0, help="class subfolders (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=sorted(FORMATS), default="png", help="file format")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty; pass a new folder")
    write_folder(args.out, args.count, args.size, args.classes, args.seed, args.format)
    print(f"wrote {args.count} {args.size}x{args.size} RGB {args.format.upper()}s to {args.out}")


if __name__ == "__main__":
    main()
