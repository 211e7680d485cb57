"""`idx:DIR` sources: a folder of IDX files in the layout of MNIST (Fashion-MNIST, KMNIST, ...).

IDX: a big-endian magic number (two zero bytes, the element type, the rank), one big-endian
uint32 per dimension, then the elements in C order. Labels are required: every dataset shipped
in this layout has them.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from convae_tf.data.source import Source, dims, first_line, from_arrays
from convae_tf.errors import DataError

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_ALL_FILES = [name for pair in SPLIT_FILES.values() for name in pair]
_LAYOUT = f"an IDX folder holds {', '.join(_ALL_FILES)}, each plain or .gz"
_UINT8 = 0x08
# The element types the IDX format defines, to name the one a file has.
_TYPE_NAMES = {
    0x08: "uint8",
    0x09: "int8",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_GZIP_MAGIC = b"\x1f\x8b"


def load_idx(spec: str, root: Path, size: tuple[int, int] | None) -> Source:
    if not root.is_dir():
        raise DataError(
            f"IDX folder {root} does not exist; check the path after 'idx:' "
            "(`make data` fetches MNIST into data/mnist)"
        )
    paths = _find_files(root)
    splits = {}
    for split, (images_name, labels_name) in SPLIT_FILES.items():
        images = _read_idx(paths[images_name], rank=3, what="images (N x H x W)")
        labels = _read_idx(paths[labels_name], rank=1, what="labels (N)")
        if len(images) == 0:
            raise DataError(f"{paths[images_name]} holds no images; a split needs at least one")
        if len(labels) != len(images):
            raise DataError(
                f"{paths[labels_name]} has {len(labels)} labels but {paths[images_name].name} "
                f"has {len(images)} images; both files must come from the same download"
            )
        splits[split] = (images[..., None], labels.astype(np.int64))
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{root}: train images are {dims(x_train.shape[1:3])} but test images are "
            f"{dims(x_test.shape[1:3])}; both splits must come from the same dataset"
        )
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    return from_arrays(spec, x_train, x_test, y_train, y_test, num_classes, size)


def _find_files(root: Path) -> dict[str, Path]:
    """Each expected name -> its file, plain preferred over .gz when both exist."""
    found, missing = {}, []
    for name in _ALL_FILES:
        candidates = [root / name, root / f"{name}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            missing.append(name)
        else:
            found[name] = path
    if missing:
        raise DataError(
            f"IDX folder {root} has no {' or '.join(missing)} (plain or .gz); {_LAYOUT} "
            "(`make data` fetches MNIST into data/mnist)"
        )
    return found


def _read_idx(path: Path, rank: int, what: str) -> np.ndarray:
    """-> the uint8 array of an IDX file of the given rank, or a DataError naming the file."""
    raw = _read_bytes(path)
    if raw[:2] == _GZIP_MAGIC:
        raise DataError(f"{path} is gzip-compressed; name it {path.name}.gz, or gunzip it")
    if len(raw) < 4 or raw[:2] != b"\0\0":
        found = f"it starts with 0x{raw[:4].hex()}" if raw else "it is empty"
        raise DataError(
            f"{path} is not an IDX file ({found}, not 0x0000 + type + rank); "
            f"expected {what} as uint8 IDX, like MNIST's"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code != _UINT8:
        name = _TYPE_NAMES.get(type_code, f"unknown type 0x{type_code:02x}")
        raise DataError(
            f"{path} holds {name} elements; only uint8 (type 0x08) IDX files are supported: "
            "convert it to uint8 (0-255), or save the arrays with numpy.savez and use npz:PATH"
        )
    if ndim != rank:
        raise DataError(f"{path} has rank {ndim}; expected {what}, rank {rank}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header; delete it and fetch it again")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + math.prod(shape)  # Python ints: a corrupt header cannot overflow
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"{path} is {problem}: {len(raw)} bytes, but its header says {dims(shape)} uint8, "
            f"{expected} bytes in all; delete it and fetch it again"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(
            f"{path} is not a readable gzip file ({first_line(e)}); delete it and fetch it again"
        ) from e
    except OSError as e:
        raise DataError(f"cannot read {path} ({first_line(e)}); check its permissions") from e
