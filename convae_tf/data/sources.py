"""Dataset spec -> `Source`: train and test tf.data of float32 images in [0, 1] (+ labels).

Spec forms (see `SPEC_FORMS`): the embedded `sprites[/64]`, any TFDS image dataset by name,
`npz:PATH` (the keras.datasets `mnist.npz` layout), `folder:PATH` (PNG/JPEG files, one
subfolder per class or none), `idx:DIR` (the IDX files of MNIST and its look-alikes) and
`tfrecord:DIR` (sharded records written by `python -m convae_tf.prepare`).
Every source gives the same element structure and a fixed order, so validation splits and
results do not move between runs or machines.
"""

from __future__ import annotations

import os
from pathlib import Path

from convae_tf.data.folder import load_folder
from convae_tf.data.idx import load_idx
from convae_tf.data.image_files import BAD_FILES
from convae_tf.data.npz import load_npz
from convae_tf.data.options import is_size
from convae_tf.data.records import load_records
from convae_tf.data.source import SPEC_FORMS, Source
from convae_tf.data.tfds_sources import load_sprites, load_tfds
from convae_tf.errors import DataError

DEFAULT_DATASET = "sprites"
CHANNELS = (1, 3)  # what `channels` may convert a folder's images to: gray or RGB
CHANNELS_HELP = (
    "Convert every image of a folder: dataset to 1 (gray) or 3 (RGB) channels; 0: the "
    "channels of its first file (a mixed folder of gray and colour photos needs this)."
)


def load_source(
    spec: str,
    *,
    data_dir: str | None = None,
    image_size: tuple[int, int] | None = None,
    seed: int = 0,
    bad_files: str = "stop",
    crop: tuple[int, int] | None = None,
    channels: int | None = None,
) -> Source:
    """Resolves a dataset spec into a `Source`; raises `DataError` with the fix on bad input.

        `data_dir` is the TFDS data directory (TFDS's default when None). `image_size=(H, W)`
        resizes every image (bilinear). `bad_files` says what a file source (folder:) does with a
        file that cannot be read or decoded when it is met while streaming: "stop" (a DataError
        naming it, raised where the data is iterated: see `named_file_errors`) or "skip" (dropped;
        `Source.skipped` lists them). `crop=(H, W)`: the run trains on crops of this size
    (`make_pipelines(crop=...)`), so the images of a folder: may differ in size; each must be at
    least H×W, and they take the channels of the first file (`image_shape` is then
    (None, None, C), and the images stay uint8 until cropped). `channels` (1 or 3; folder:
    only; another source must already have them): every image converted to gray or RGB,
    whatever the first file is. `seed` is accepted for a uniform call signature, but no source
    depends on it: splits and orders must stay put across runs that vary the seed.
    """
    del seed
    spec = (spec or "").strip()
    if not spec:
        raise DataError(f"empty dataset spec; {SPEC_FORMS}")
    size = _check_image_size(image_size)
    if crop is not None and not is_size(crop):
        raise DataError(f"crop={crop!r} is invalid; pass two positive ints (H, W)")
    crop = None if crop is None else (int(crop[0]), int(crop[1]))
    if bad_files not in BAD_FILES:
        raise DataError(f"bad_files={bad_files!r} is invalid; use one of {', '.join(BAD_FILES)}")
    channels = channels or None  # 0: the first file's
    if channels not in (None, *CHANNELS):
        raise DataError(f"channels={channels!r} is invalid; use 1 (gray) or 3 (RGB)")
    if data_dir is not None:
        data_dir = os.path.expanduser(str(data_dir))
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in ("npz", "folder", "idx", "tfrecord") and not rest.strip():
        raise DataError(f"no path after '{scheme}:' in {spec!r}; write {scheme}:PATH")
    if sep and scheme == "folder":
        return load_folder(spec, Path(rest).expanduser(), size, bad_files, crop, channels)
    if sep and scheme == "npz":
        source = load_npz(spec, Path(rest).expanduser(), size)
    elif sep and scheme == "idx":
        source = load_idx(spec, Path(rest).expanduser(), size)
    elif sep and scheme == "tfrecord":
        source = load_records(spec, Path(rest).expanduser(), size)
    elif spec.split("/")[0] == "sprites":
        source = load_sprites(spec, data_dir, size)
    else:
        source = load_tfds(spec, data_dir, size)
    if channels and source.image_shape[-1] != channels:
        raise DataError(
            f"channels={channels}: {spec!r} has {source.image_shape[-1]}-channel images, and "
            "only a folder: dataset's image files are converted; leave channels at 0"
        )
    return source


def _check_image_size(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    try:
        height, width = (int(v) for v in image_size)
        ok = height > 0 and width > 0 and list(image_size) == [height, width]
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"image_size={image_size!r} is invalid; pass two positive ints (H, W)")
    return height, width
