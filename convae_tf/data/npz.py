"""`npz:PATH` sources in the keras.datasets `mnist.npz` layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from convae_tf.data.source import MAX_CHANNELS, Source, dims, first_line, from_arrays
from convae_tf.errors import DataError


def load_npz(spec: str, path: Path, size: tuple[int, int] | None) -> Source:
    if not path.is_file():
        raise DataError(f"npz file {path} does not exist; check the path after 'npz:'")
    fix = "save one with numpy.savez(path, x_train=..., x_test=..., y_train=..., y_test=...)"
    try:
        # Never unpickle user input: object arrays fail here instead of running code.
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .npz archive ({first_line(e)}); {fix}") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single .npy array, not an .npz archive; {fix}")
    with archive:
        missing = [k for k in ("x_train", "x_test") if k not in archive.files]
        if missing:
            raise DataError(
                f"{path} has no {' or '.join(missing)} array (it has {sorted(archive.files)}); "
                f"expected the keras.datasets mnist.npz layout: {fix}"
            )
        try:
            arrays = {
                k: archive[k]
                for k in ("x_train", "x_test", "y_train", "y_test")
                if k in archive.files
            }
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise DataError(
                f"{path} is corrupt or holds object arrays ({first_line(e)}); {fix}"
            ) from e
    x_train = _check_images(path, "x_train", arrays["x_train"])
    x_test = _check_images(path, "x_test", arrays["x_test"])
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{path}: x_train images are {dims(x_train.shape[1:])} but x_test images are "
            f"{dims(x_test.shape[1:])}; save both splits at one size and channel count"
        )
    if ("y_train" in arrays) != ("y_test" in arrays):
        raise DataError(
            f"{path} has labels for one split only; save both y_train and y_test, or neither"
        )
    y_train = y_test = num_classes = None
    if "y_train" in arrays:
        y_train = _check_labels(path, "y_train", arrays["y_train"], len(x_train))
        y_test = _check_labels(path, "y_test", arrays["y_test"], len(x_test))
        num_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return from_arrays(spec, x_train, x_test, y_train, y_test, num_classes, size)


def _check_images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    """-> N x H x W x C, uint8 or float32 in [0, 1]."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(
            f"{path}: {key} has shape {x.shape}; expected N x H x W or N x H x W x C images"
        )
    if len(x) == 0:
        raise DataError(f"{path}: {key} has no images; save at least one per split")
    if x.shape[-1] > MAX_CHANNELS:
        hint = (
            " (it looks channels-first: transpose to N x H x W x C)"
            if x.shape[1] <= MAX_CHANNELS
            else ""
        )
        raise DataError(
            f"{path}: {key} has {x.shape[-1]} channels in shape {x.shape}; images need 1 to "
            f"{MAX_CHANNELS} channels, last{hint}"
        )
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        low, high = float(np.min(x)), float(np.max(x))
        if not (np.isfinite(low) and np.isfinite(high) and low >= 0.0 and high <= 1.0):
            raise DataError(
                f"{path}: {key} holds floats in [{low:g}, {high:g}]; float images must be in "
                "[0, 1] (divide by 255, or save them as uint8)"
            )
        return x.astype(np.float32, copy=False)
    raise DataError(
        f"{path}: {key} has dtype {x.dtype}; save images as uint8 (0-255) or floats in [0, 1]"
    )


def _check_labels(path: Path, key: str, y: np.ndarray, num_images: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:  # keras.datasets.cifar10 stores N x 1 labels
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{path}: {key} has shape {y.shape} and dtype {y.dtype}; labels must be N integers"
        )
    if len(y) != num_images:
        image_key = key.replace("y_", "x_")
        raise DataError(
            f"{path}: {key} has {len(y)} labels but {image_key} has {num_images} images; "
            "save one label per image"
        )
    if len(y) and y.min() < 0:
        raise DataError(f"{path}: {key} has negative labels; use class ids 0, 1, 2, ...")
    return y
