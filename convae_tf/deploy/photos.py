"""Photos in and out for `deploy/predict.py`: any PIL-readable PNG/JPEG as a viewer shows it,
written back as a PNG of the same size and mode.

Standard library, numpy and PIL only: predict.py loads this file beside it (as it loads
utils/quiet.py), so that it works as a stand-alone script.

What is read: the EXIF orientation applied (a phone's portrait JPEG is upright); palette
images expanded to RGB (RGBA with transparency); CMYK and YCbCr to RGB; 1-bit to gray; 16-bit
gray kept at 16 bits. An alpha channel is set aside and written back unchanged: the model sees
the colour channels only. The PNG written back has the photo's mode, but RGB for CMYK, YCbCr
and palette photos (PNG has no CMYK; a restored photo's colours do not fit its old palette).

Channels: a photo whose colour channels differ from the model's is converted (`adapt`): each
channel of a colour photo through a gray model as a gray image of its own; a gray photo
through a colour model with its gray in every channel, the output's channels averaged back.

Masks (inpainting's holes, `read_mask`): any image mode, as gray; white (above half the
range) is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

SUFFIXES = (".png", ".jpg", ".jpeg")
# zlib level of the PNGs written back, lossless at every level. Level 1 (OpenCV's default) writes
# several times faster than Pillow's default 6 for a slightly larger file: at 6, writing was a
# sizeable part of a large photo's whole predict command (experiments/results/photo_denoise.md).
PNG_COMPRESSION = 1
# PIL modes read as they are (colour mode, alpha mode or None); others are converted to RGB.
_MODES = {
    "L": ("L", None),
    "LA": ("L", "LA"),
    "RGB": ("RGB", None),
    "RGBA": ("RGB", "RGBA"),
    "I;16": ("I;16", None),
}


class PhotoError(ValueError):
    """A photo that cannot be read or written; the message is one line naming the file."""


class Photo:
    """A photo's colour channels `pixels` (H, W, 1 or 3; uint8, or uint16 for 16-bit gray),
    its alpha (H, W, 1) or None, and the PIL `mode` it is written back in."""

    def __init__(self, pixels: np.ndarray, alpha: np.ndarray | None, mode: str):
        self.pixels, self.alpha, self.mode = pixels, alpha, mode

    @property
    def scale(self) -> float:
        """What a pixel value is divided by to lie in [0, 1]."""
        return float(np.iinfo(self.pixels.dtype).max)


def read(path: Path, max_megapixels: float) -> Photo:
    """The photo at `path`, oriented as its EXIF says; a PhotoError names the file if it is
    not a readable image or has more than `max_megapixels` (checked on the header, before
    decoding)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the limit is ours (max_megapixels), checked below
    try:
        with Image.open(path) as image:
            _check_megapixels(path, image.size, max_megapixels)
            image = ImageOps.exif_transpose(image)
            return _photo(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        # A truncated file fails when it is decoded, in exif_transpose or np.asarray.
        raise PhotoError(f"{path}: not a readable image ({error})") from None


def read_mask(path: Path, photo_path: Path, size: tuple[int, int], max_megapixels: float):
    """The mask at `path` for the photo at `photo_path` of `size` (width, height), oriented
    as its EXIF says: bool (H, W, 1), True where a pixel is missing (white: above half the
    range, after converting to gray). A PhotoError names the mask if it is not a readable
    image or not of the photo's size."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # the limit is ours, as for photos
    try:
        with Image.open(path) as image:
            _check_megapixels(path, image.size, max_megapixels)
            image = ImageOps.exif_transpose(image)
            if image.size != tuple(size):
                raise PhotoError(
                    f"{path}: the mask is {image.size[0]}x{image.size[1]} but its photo "
                    f"{photo_path} is {size[0]}x{size[1]}; a mask has its photo's size"
                )
            if image.mode.startswith("I"):  # 16- or 32-bit gray: half of the 16-bit range
                missing = np.asarray(image, np.int64) > 32767
            else:  # palette, colour, alpha, 1-bit: as gray
                missing = np.asarray(image.convert("L")) > 127
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise PhotoError(f"{path}: the mask is not a readable image ({error})") from None
    return missing[..., None]


def _check_megapixels(path: Path, size: tuple[int, int], max_megapixels: float) -> None:
    """Refuses an image above `max_megapixels` by its header's `size`, before decoding."""
    width, height = size
    if width * height > max_megapixels * 1e6:
        raise PhotoError(
            f"{path}: {width}x{height} is {width * height / 1e6:.3g} megapixels, above "
            f"the limit of {max_megapixels:g}; raise it with --max_megapixels"
        )


def _photo(image) -> Photo:
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    elif mode.startswith("I"):  # 16-bit gray (I;16, I;16B) or 32-bit integers (I)
        pixels = np.clip(np.asarray(image, np.int64), 0, 65535).astype(np.uint16)
        return Photo(pixels[..., None], None, "I;16")
    elif mode not in _MODES:  # CMYK, YCbCr, LAB, HSV, F: as a viewer shows them
        image = image.convert("RGB")
    colour, with_alpha = _MODES[image.mode]
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if with_alpha is None:
        return Photo(array, None, colour)
    return Photo(array[..., :-1], array[..., -1:], with_alpha)


def quantized(photo: Photo, restored: np.ndarray) -> np.ndarray:
    """`restored` (floats in [0, 1]) as pixels of the photo's type."""
    return np.round(np.clip(restored, 0.0, 1.0) * photo.scale).astype(photo.pixels.dtype)


def png_bytes(photo: Photo, pixels: np.ndarray) -> bytes:
    """The PNG of `pixels` (H, W, the photo's colour channels, its type: see `quantized`) in
    the photo's mode and bit depth, its alpha put back."""
    import io

    from PIL import Image

    if photo.alpha is not None:
        pixels = np.concatenate([pixels, photo.alpha], axis=-1)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_COMPRESSION)
    return buffer.getvalue()


def adapt(fn: Callable, photo_channels: int, model_channels: int) -> Callable:
    """`fn` on batches of `model_channels` images as a function on batches of
    `photo_channels` ones (see the module docstring), or `fn` itself where they agree.
    Further arguments (masks, (n, H, W, 1)) go with their images: one per image whatever
    its channels."""
    if photo_channels == model_channels:
        return fn
    if model_channels == 1:

        def per_channel(batch, *masks):
            n, h, w, c = batch.shape
            gray = batch.transpose(0, 3, 1, 2).reshape(n * c, h, w, 1)
            masks = [np.repeat(mask, c, axis=0) for mask in masks]  # image i's at i·c … i·c+c−1
            return np.asarray(fn(gray, *masks)).reshape(n, c, h, w).transpose(0, 2, 3, 1)

        return per_channel
    if photo_channels == 1:

        def replicated(batch, *masks):
            colour = np.repeat(batch, model_channels, axis=-1)
            return np.asarray(fn(colour, *masks)).mean(axis=-1, keepdims=True)

        return replicated
    raise PhotoError(
        f"a {photo_channels}-channel photo cannot go through a {model_channels}-channel model"
    )
