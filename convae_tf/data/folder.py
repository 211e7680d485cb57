"""`folder:PATH` sources: PNG/JPEG files, one subfolder per class or none, read lazily.

Loading lists the files and decodes only the first few (`image_files.PREFLIGHT_FILES`: the
shape, and an early error for a wrongly assembled folder); the rest are decoded inside tf.data
as the splits stream, so memory and start-up time do not grow with the image count (only the
file list does: a path and a label per file). With a crop size (a run that trains on crops)
the images may differ in size: the source's image_shape is then (None, None, C).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from convae_tf.data import image_files
from convae_tf.data.source import Source
from convae_tf.errors import DataError

TEST_FRACTION = 0.2
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_folder(
    spec: str,
    root: Path,
    size: tuple[int, int] | None,
    bad_files: str = "stop",
    crop: tuple[int, int] | None = None,
) -> Source:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; check the path after 'folder:'")
    files, labels, class_names = _scan_folder(root)
    if len(files) < 2:
        raise DataError(
            f"folder {root} has {len(files)} image(s); it needs at least 2 (train and test)"
        )
    paths = [os.fsencode(f) for f in files]  # bytes: any file name reaches tf.io.read_file
    decoder = image_files.make_decoder(paths, size, bad_files, crop)
    hashes = [_unit_hash(f.relative_to(root).as_posix()) for f in files]
    test_mask = _test_mask(hashes)
    # The order of each split is by hash: a fixed shuffle, so a validation prefix of the train
    # split holds every class, and it does not depend on the order of the scan.
    order = np.argsort(hashes, kind="stable")
    train_idx = [i for i in order if not test_mask[i]]
    test_idx = [i for i in order if test_mask[i]]
    y = None if labels is None else np.asarray(labels, np.int64)

    def refs(indices) -> tf.data.Dataset:
        elements = {"path": np.asarray([paths[i] for i in indices], dtype=object)}
        if y is not None:
            elements["label"] = y[indices]
        return tf.data.Dataset.from_tensor_slices(elements)

    train_refs = refs(train_idx)
    return Source(
        spec=spec,
        image_shape=decoder.image_shape,
        num_classes=None if class_names is None else len(class_names),
        train=decoder(train_refs),
        test=decoder(refs(test_idx)),
        num_train=len(train_idx),
        num_test=len(test_idx),
        train_labels=None if y is None else tf.data.Dataset.from_tensor_slices(y[train_idx]),
        train_refs=train_refs,
        decode=decoder,
        skipped=decoder.skipped,
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


def _test_mask(hashes: list[float]) -> list[bool]:
    """About TEST_FRACTION of the files go to test, each decided by its own path's hash alone,
    so adding a file never moves another; tiny folders get at least one file on each side."""
    mask = [h < TEST_FRACTION for h in hashes]
    if not any(mask):
        mask[int(np.argmin(hashes))] = True
    if all(mask):
        mask[int(np.argmax(hashes))] = False
    return mask
