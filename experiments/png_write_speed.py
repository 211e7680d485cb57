"""How fast predict writes its PNGs: zlib level 1 (deploy/photos.py's PNG_COMPRESSION) against
Pillow's default 6, side by side on one photo, alternating, best of --repeats.

    python -m experiments.png_write_speed --photo=runs/photo_denoise/large/denoised/noisy.png

(that photo is written by `python -m experiments.photo_denoise`: a 12-megapixel denoised photo).
Prints seconds and megabytes per level and the ratios; lossless at every level.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

LEVELS = (6, 1)


def encode(pixels: np.ndarray, level: int) -> tuple[float, int]:
    """(seconds, bytes) of one PNG encoding of `pixels` at zlib `level`."""
    buffer = io.BytesIO()
    start = time.perf_counter()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=level)
    return time.perf_counter() - start, buffer.tell()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with Image.open(args.photo) as photo:
        pixels = np.asarray(photo)
    best = {level: (float("inf"), 0) for level in LEVELS}
    for _ in range(args.repeats):
        for level in LEVELS:  # alternating, so that a busy moment hits both
            seconds, size = encode(pixels, level)
            best[level] = (min(best[level][0], seconds), size)
    megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
    for level, (seconds, size) in best.items():
        print(
            f"level {level}: {seconds:.2f} s ({seconds / megapixels:.3f} s/MP), {size / 1e6:.1f} MB"
        )
    (slow, big), (fast, small) = best[6], best[1]
    print(f"level 1 against 6: {slow / fast:.1f}× faster, files {small / big:.2f}× the size")
    return best


if __name__ == "__main__":
    main()
