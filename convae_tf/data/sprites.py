"""`sprites`: an embedded, offline, deterministic dSprites-like TFDS dataset.

Binary images of one white shape (square, ellipse or heart) on black, with a random scale,
orientation and position. Everything is drawn from a fixed seed with vectorised numpy, so
every machine prepares the same data in seconds and nothing is downloaded.

The builder registers as `convae_sprites`, not `sprites`: TFDS has no `sprites` today, but a
generic name could clash with a future TFDS dataset (it already ships `dsprites`), and a
duplicate registration raises at import time. Users still write `sprites` or `sprites/64`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

SHAPES = ("square", "ellipse", "heart")
SIZES = (32, 64)
NUM_EXAMPLES = {"train": 10_000, "test": 2_000}
# Fixed seeds per split: changing them changes the dataset, so bump VERSION if you do.
_SEEDS = {"train": 20240, "test": 20241}
_CHUNK = 500  # examples rendered at once; bounds memory at 64x64 (a few float32 N*H*W arrays)
_SCALE_RANGE = (0.5, 1.0)
_RADIUS = 0.2  # shape half-extent at scale 1, as a fraction of the image side
# Shape centres stay this far from the border so that no shape is ever clipped.
_MARGIN = _RADIUS * 2**0.5 + 0.02


@dataclasses.dataclass
class SpritesConfig(tfds.core.BuilderConfig):
    image_size: int = 32


def render(
    shape: np.ndarray,
    scale: np.ndarray,
    orientation: np.ndarray,
    position_x: np.ndarray,
    position_y: np.ndarray,
    size: int,
) -> np.ndarray:
    """Draws N binary sprites: arrays of N factors -> uint8 [N, size, size, 1] in {0, 255}.

    Positions are in [0, 1] across the usable area; orientation is in radians.
    """
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    cx = (_MARGIN + (1 - 2 * _MARGIN) * position_x).astype(np.float32)[:, None, None]
    cy = (_MARGIN + (1 - 2 * _MARGIN) * position_y).astype(np.float32)[:, None, None]
    dx = centres[None, None, :] - cx
    dy = centres[None, :, None] - cy
    cos = np.cos(orientation).astype(np.float32)[:, None, None]
    sin = np.sin(orientation).astype(np.float32)[:, None, None]
    radius = (_RADIUS * scale).astype(np.float32)[:, None, None]
    # Shape-local coordinates (rotated by -orientation, in units of the shape radius); y points
    # up so that the heart is upright at orientation 0.
    u = (cos * dx + sin * dy) / radius
    v = -(-sin * dx + cos * dy) / radius
    square = np.maximum(np.abs(u), np.abs(v)) <= 0.8
    ellipse = u**2 + (v / 0.55) ** 2 <= 1.0
    # The classic implicit heart spans about [-1.14, 1.14] x [-1, 1.25]; shrink it to fit.
    hu, hv = u * 1.2, v * 1.2 + 0.1
    heart = (hu**2 + hv**2 - 1) ** 3 - hu**2 * hv**3 <= 0
    kind = shape[:, None, None]
    mask = np.where(kind == 0, square, np.where(kind == 1, ellipse, heart))
    return (mask * np.uint8(255)).astype(np.uint8)[..., None]


def sample_factors(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "label": rng.integers(0, len(SHAPES), size=n),
        "scale": rng.uniform(*_SCALE_RANGE, size=n).astype(np.float32),
        "orientation": rng.uniform(0, 2 * np.pi, size=n).astype(np.float32),
        "position_x": rng.uniform(0, 1, size=n).astype(np.float32),
        "position_y": rng.uniform(0, 1, size=n).astype(np.float32),
    }


class ConvaeSprites(tfds.core.GeneratorBasedBuilder):
    """dSprites-like binary shapes, generated offline from a fixed seed."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        SpritesConfig(name=str(s), description=f"{s}x{s} binary images", image_size=s)
        for s in SIZES
    ]
    DEFAULT_CONFIG_NAME = "32"

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            description="dSprites-like binary shapes, generated offline from a fixed seed.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 1)),
                    "label": tfds.features.ClassLabel(names=SHAPES),
                    "scale": tfds.features.Scalar(np.float32),
                    "orientation": tfds.features.Scalar(np.float32),
                    "position_x": tfds.features.Scalar(np.float32),
                    "position_y": tfds.features.Scalar(np.float32),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {split: self._generate_examples(split) for split in NUM_EXAMPLES}

    def _generate_examples(self, split: str):
        size = self.builder_config.image_size
        rng = np.random.default_rng(_SEEDS[split])
        total = NUM_EXAMPLES[split]
        for start in range(0, total, _CHUNK):
            n = min(_CHUNK, total - start)
            factors = sample_factors(rng, n)
            images = render(
                factors["label"],
                factors["scale"],
                factors["orientation"],
                factors["position_x"],
                factors["position_y"],
                size,
            )
            for i in range(n):
                example = {key: values[i] for key, values in factors.items()}
                example["image"] = images[i]
                yield start + i, example
