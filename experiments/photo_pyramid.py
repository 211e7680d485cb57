"""The training photos at several scales, so that crops hold the detail of photos of every size.

    python -m experiments.photo_pyramid --source=data/photos/train --out=data/photos/pyramid
    python -m experiments.photo_pyramid --gray --out=data/photos/pyramid-gray   # for a gray model

The wallpapers of `make data-photos` are 1280×1024 to 6028×3391: a 64-pixel crop of a 6-megapixel
photo is mostly smooth (a patch of sky, an out-of-focus background), while the photos people
restore are 256² to 4000×3000 and a crop of a small one is full of edges and texture. Each photo
is written at its own size and halved until its short side would fall below `--min_side`
(Lanczos resampling, which also averages the JPEG's own block artefacts away), as PNG files
`<stem>@<factor>.png` in one folder that `--dataset=folder:OUT` reads. Idempotent: files
already there are kept; each file is written under a temporary name and renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

from absl import app, flags
from PIL import Image, ImageOps

_SOURCE = flags.DEFINE_string("source", "data/photos/train", "Folder of training photos.")
_OUT = flags.DEFINE_string("out", "data/photos/pyramid", "Folder to write the scales into.")
_MIN_SIDE = flags.DEFINE_integer(
    "min_side", 384, "Smallest short side written: no scale below it (a crop needs context)."
)
_GRAY = flags.DEFINE_bool(
    "gray", False, "Write gray (L) files, the luminance of each photo: for a gray model."
)


def scales(size: tuple[int, int], min_side: int) -> list[int]:
    """The downscale factors 1, 2, 4, … whose short side stays at or above `min_side`."""
    factors = [1]
    while min(size) // (factors[-1] * 2) >= min_side:
        factors.append(factors[-1] * 2)
    return factors


def write_pyramid(source: Path, out: Path, min_side: int, mode: str = "RGB") -> int:
    photos = sorted(p for p in source.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise app.UsageError(f"no photos in {source}; run make data-photos first")
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in photos:
        with Image.open(path) as opened:
            photo = ImageOps.exif_transpose(opened).convert(mode)
        for factor in scales(photo.size, min_side):
            target = out / f"{path.stem}@{factor}.png"
            if target.exists():
                continue
            size = (photo.width // factor, photo.height // factor)
            scaled = photo if factor == 1 else photo.resize(size, Image.Resampling.LANCZOS)
            partial = target.with_suffix(".partial")
            scaled.save(partial, format="PNG")
            os.replace(partial, target)
            written += 1
    return written


def main(argv):
    del argv
    mode = "L" if _GRAY.value else "RGB"
    written = write_pyramid(Path(_SOURCE.value), Path(_OUT.value), _MIN_SIDE.value, mode)
    total = len(list(Path(_OUT.value).glob("*.png")))
    print(f"{written} files written, {total} in {_OUT.value}")


if __name__ == "__main__":
    app.run(main)
