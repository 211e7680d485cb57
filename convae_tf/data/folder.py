"""`folder:PATH` sources: PNG/JPEG files, one subfolder per class or none."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from convae_tf.data import ops
from convae_tf.data.source import MAX_CHANNELS, Source, dims, first_line, from_arrays
from convae_tf.errors import DataError

TEST_FRACTION = 0.2
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_folder(spec: str, root: Path, size: tuple[int, int] | None) -> Source:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; check the path after 'folder:'")
    files, labels, class_names = _scan_folder(root)
    if len(files) < 2:
        raise DataError(
            f"folder {root} has {len(files)} image(s); it needs at least 2 (train and test)"
        )
    relative = [f.relative_to(root).as_posix() for f in files]
    test_mask = _test_mask(relative)
    # PIL rather than tf.io: every file is decoded once, up front, so a corrupt file or a
    # mismatched size is reported with its name before training; tf.io would fail mid-epoch
    # without one. The pixels stay in memory, as the pipeline's cache() would keep them anyway.
    images = [_decode(f) for f in files]
    images = _common_shape(root, files, images, size)
    x = np.stack(images)
    order = np.argsort([_unit_hash(r) for r in relative], kind="stable")
    train_idx = [i for i in order if not test_mask[i]]
    test_idx = [i for i in order if test_mask[i]]
    y = None if labels is None else np.asarray(labels, np.int64)
    return from_arrays(
        spec,
        x[train_idx],
        x[test_idx],
        None if y is None else y[train_idx],
        None if y is None else y[test_idx],
        None if class_names is None else len(class_names),
        size,
    )


def _is_image(path: Path) -> bool:
    # Dot files include macOS "._name.png" resource forks, which are not images.
    return (
        path.is_file() and path.suffix.lower() in _IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def _scan_folder(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Files in sorted order, and labels: class subfolders (sorted names) if there are any."""
    top = sorted(p for p in root.iterdir() if _is_image(p))
    classes = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        members = sorted(p for p in sub.rglob("*") if _is_image(p))
        if members:
            classes.append((sub.name, members))
    if classes and top:
        raise DataError(
            f"folder {root} mixes images ({top[0].name}, ...) with class subfolders; move the "
            "images into a subfolder, or remove the subfolders for an unlabelled dataset"
        )
    if classes:
        files = [f for _, members in classes for f in members]
        labels = [label for label, (_, members) in enumerate(classes) for _ in members]
        return files, labels, [name for name, _ in classes]
    if not top:
        raise DataError(
            f"folder {root} has no images ({', '.join(_IMAGE_SUFFIXES)}), neither directly nor "
            "in class subfolders; add images or point folder: at the right directory"
        )
    return top, None, None


def _unit_hash(relative_path: str) -> float:
    """A stable hash of a path in [0, 1): the same on every machine and Python run."""
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _test_mask(relative: list[str]) -> list[bool]:
    """About TEST_FRACTION of the files go to test, each decided by its own path alone,
    so adding a file never moves another; tiny folders get at least one file on each side."""
    hashes = [_unit_hash(r) for r in relative]
    mask = [h < TEST_FRACTION for h in hashes]
    if not any(mask):
        mask[int(np.argmin(hashes))] = True
    if all(mask):
        mask[int(np.argmax(hashes))] = False
    return mask


_MODE_CONVERSIONS = {
    "1": "L",
    "La": "LA",
    "PA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}


def _decode(path: Path) -> np.ndarray:
    """-> uint8 [H, W, C] with C = 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA)."""
    try:
        with Image.open(path) as im:
            im.load()  # a full decode, so that truncated files fail here, with their name
            mode = im.mode
            if mode == "P":
                mode = "RGBA" if "transparency" in im.info else "RGB"
            mode = _MODE_CONVERSIONS.get(mode, mode)
            if mode not in ("L", "LA", "RGB", "RGBA"):
                raise DataError(
                    f"image {path} has PIL mode {im.mode!r} (16-bit or float pixels); save it "
                    "as an 8-bit PNG or JPEG"
                )
            pixels = np.asarray(im.convert(mode) if mode != im.mode else im)
    except DataError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(
            f"cannot decode image {path} ({first_line(e)}); remove or re-save that file"
        ) from e
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    if pixels.shape[-1] > MAX_CHANNELS:
        raise DataError(f"image {path} has {pixels.shape[-1]} channels; at most 4 are supported")
    return pixels


def _common_shape(
    root: Path, files: list[Path], images: list[np.ndarray], size: tuple[int, int] | None
) -> list[np.ndarray]:
    """Checks that images can be stacked; with `size`, makes them so."""
    first = images[0].shape
    odd = next((i for i, im in enumerate(images) if im.shape != first), None)
    if odd is None:
        return images
    if size is None:
        raise DataError(
            f"images in {root} differ in size or channels: {files[0].name} is "
            f"{dims(first)} but {files[odd].relative_to(root)} is {dims(images[odd].shape)}; "
            "pass image_size=(H, W) (--image_size) to resize them to one size"
        )
    channels = {im.shape[-1] for im in images}
    color, alpha = bool(channels & {3, 4}), bool(channels & {2, 4})
    target = (3 if color else 1) + alpha
    # Resized here, one by one, with the same op as every other source: they cannot be stacked
    # at their own sizes. Floats, since re-quantising to uint8 would lose the interpolation.
    return [ops.resize(ops.to_unit_float(_to_channels(im, target)), size).numpy() for im in images]


def _to_channels(image: np.ndarray, target: int) -> np.ndarray:
    """Promotes gray to colour and adds an opaque alpha channel where needed (uint8)."""
    channels = image.shape[-1]
    has_alpha = channels in (2, 4)
    colour = image[..., :-1] if has_alpha else image
    if target >= 3 and colour.shape[-1] == 1:
        colour = np.repeat(colour, 3, axis=-1)
    if target in (2, 4):
        alpha_channel = image[..., -1:] if has_alpha else np.full_like(image[..., :1], 255)
        return np.concatenate([colour, alpha_channel], axis=-1)
    return colour
