"""The corrupted test photos of the photo benchmark (experiments/photo_denoise.py), written once
as files so that every method, in-process or a command, reads the same 8-bit inputs.

- Noise: Gaussian of standard deviation σ (in 8-bit levels) added to the 8-bit image, rounded,
  clipped to 0..255 and stored as an 8-bit PNG of the image's mode (L or RGB).
- Holes: a mask per image of rectangles or of free-form brush strokes (white = missing),
  grown until it covers a target share of the image; the holed image has 0 under the mask.

Every draw is seeded by the seed, the setting and the image's name (not its place in the
folder), so adding an image changes no other image's noise or mask.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_clean(folder: Path) -> dict[str, np.ndarray]:
    """The images of `folder` by name stem: uint8, (H, W) for gray, (H, W, 3) for colour."""
    images = {
        path.stem: load_image(path)
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    }
    if not images:
        raise SystemExit(f"no PNG or JPEG images in {folder}")
    return images


def load_image(path: Path) -> np.ndarray:
    """uint8 pixels, (H, W) for a gray image, (H, W, 3) for any other."""
    with Image.open(path) as image:
        gray = image.mode in ("1", "L", "LA", "I", "I;16", "F")
        return np.asarray(image.convert("L" if gray else "RGB"))


def rng_for(seed: int, name: str, *setting: int) -> np.random.Generator:
    return np.random.default_rng([seed, *setting, zlib.crc32(name.encode())])


def write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def add_noise(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = clean + rng.normal(0.0, sigma, clean.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def write_noisy(images: dict[str, np.ndarray], sigmas, folder: Path, seed: int) -> None:
    """folder/sigma{σ}/{name}.png for every image and σ."""
    for sigma in sigmas:
        for name, clean in images.items():
            noisy = add_noise(clean, sigma, rng_for(seed, name, sigma))
            write_png(folder / f"sigma{sigma}" / f"{name}.png", noisy)


def rectangles_mask(shape, coverage: float, rng: np.random.Generator) -> np.ndarray:
    """Axis-aligned rectangles of 5-20 % of each side, added until `coverage` is reached."""
    height, width = shape
    mask = np.zeros(shape, bool)
    while mask.mean() < coverage:
        h = int(rng.uniform(0.05, 0.2) * height) + 1
        w = int(rng.uniform(0.05, 0.2) * width) + 1
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        mask[top : top + h, left : left + w] = True
    return mask


def strokes_mask(shape, coverage: float, rng: np.random.Generator) -> np.ndarray:
    """Free-form brush strokes (random walks of 4-10 segments, a brush 2-5 % of the short
    side wide, round joints), added until `coverage` is reached."""
    height, width = shape
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    short = min(shape)
    while np.asarray(canvas).mean() / 255 < coverage:
        brush = max(2, int(rng.uniform(0.02, 0.05) * short))
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        points = [(x, y)]
        for _ in range(rng.integers(4, 11)):
            angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.2) * short
            x = float(np.clip(x + length * np.cos(angle), 0, width - 1))
            y = float(np.clip(y + length * np.sin(angle), 0, height - 1))
            points.append((x, y))
        draw.line(points, fill=255, width=brush, joint="curve")
        for px, py in points:  # round ends and corners
            r = brush / 2
            draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
    return np.asarray(canvas) > 0


MASKS = {"rectangles": rectangles_mask, "strokes": strokes_mask}


def write_holes(images: dict[str, np.ndarray], coverages, folder: Path, seed: int) -> list[str]:
    """folder/masks/{kind}-{pct}/{name}.png (white = missing) and folder/holed/{kind}-{pct}/
    {name}.png (0 under the mask), for every mask kind and coverage in percent; returns the
    settings' names ({kind}-{pct}), which name the subfolders."""
    settings = []
    for kind_index, (kind, make) in enumerate(MASKS.items()):
        for pct in coverages:
            setting = f"{kind}-{pct}"
            settings.append(setting)
            for name, clean in images.items():
                mask = make(clean.shape[:2], pct / 100, rng_for(seed, name, kind_index, pct))
                holed = clean.copy()
                holed[mask] = 0
                write_png(folder / "masks" / setting / f"{name}.png", mask.astype(np.uint8) * 255)
                write_png(folder / "holed" / setting / f"{name}.png", holed)
    return settings
