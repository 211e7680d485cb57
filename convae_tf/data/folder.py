"""`folder:PATH` sources: PNG/JPEG files, one subfolder per class or none, read lazily.

Loading lists the files and decodes only the first few (`image_files.PREFLIGHT_FILES`: the
shape, and an early error for a wrongly assembled folder); the rest are decoded inside tf.data
as the splits stream, so memory and start-up time do not grow with the image count (only the
file list does: a path and a label per file, held in numpy arrays, then in one string tensor
per split: no Python object per file outlives the scan). With a crop size (a run that trains on
crops) the images may differ in size: the source's image_shape is then (None, None, C).
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
    channels: int | None = None,
) -> Source:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; check the path after 'folder:'")
    relative, labels, class_names = _scan_folder(root)
    if len(relative) < 2:
        raise DataError(
            f"folder {root} has {len(relative)} image(s); it needs at least 2 (train and test)"
        )
    # The paths as `root / name` spells them (no "./" for root "."), as bytes so that any file
    # name reaches tf.io.read_file.
    prefix = os.fsencode(root / "_")[:-1]
    preflight = [prefix + name for name in relative[: image_files.PREFLIGHT_FILES]]
    decoder = image_files.make_decoder(preflight, size, bad_files, crop, channels)
    hashes = _unit_hashes(relative)
    test_mask = _test_mask(hashes)
    # The order of each split is by hash: a fixed shuffle, so a validation prefix of the train
    # split holds every class, and it does not depend on the order of the scan.
    order = np.argsort(hashes, kind="stable")
    train_idx = order[~test_mask[order]]
    test_idx = order[test_mask[order]]

    def refs(indices: np.ndarray) -> tf.data.Dataset:
        # The names relative to the root, joined to it as they stream: a split's file list
        # is one string tensor of the short names, whatever the root's length.
        elements = {"path": relative[indices]}
        if labels is not None:
            elements["label"] = labels[indices]
        return tf.data.Dataset.from_tensor_slices(elements).map(
            lambda ref: {**ref, "path": tf.strings.join([prefix, ref["path"]])}
        )

    train_refs = refs(train_idx)
    return Source(
        spec=spec,
        image_shape=decoder.image_shape,
        num_classes=None if class_names is None else len(class_names),
        train=decoder(train_refs),
        test=decoder(refs(test_idx)),
        num_train=len(train_idx),
        num_test=len(test_idx),
        train_labels=None
        if labels is None
        else tf.data.Dataset.from_tensor_slices(labels[train_idx]),
        train_refs=train_refs,
        decode=decoder,
        skipped=decoder.skipped,
    )


def _is_image(entry: os.DirEntry) -> bool:
    # Dot files include macOS "._name.png" resource forks, which are not images. The name
    # tests come first: is_file() may need a stat, which a name rules out for free.
    name = entry.name
    return not name.startswith(".") and name.lower().endswith(_IMAGE_SUFFIXES) and entry.is_file()


def _entries(folder) -> tuple[list[bytes], list[str]]:
    """(image names as bytes, subfolder names) of one folder, each sorted: a single scandir
    pass, no Path and no stat per file. Links to folders are not entered, as Path.rglob does
    not enter them."""
    images, subfolders = [], []
    with os.scandir(folder) as entries:
        for entry in entries:
            if _is_image(entry):
                images.append(os.fsencode(entry.name))
            elif entry.is_dir():
                subfolders.append(entry.name)
    return sorted(images), sorted(subfolders)


def _images_under(folder: Path) -> list[bytes]:
    """Relative paths (bytes, "/"-separated) of the images in `folder` and below, in the
    order of sorted pathlib paths (name by name)."""
    images, subfolders = _entries(folder)
    named = [(name, name) for name in images]
    for sub in subfolders:
        if not (folder / sub).is_symlink():
            prefix = os.fsencode(sub) + b"/"
            named += [(os.fsencode(sub), prefix + path) for path in _images_under(folder / sub)]
    # Sorted by the first name, the file or subfolder's (stable: a subfolder's own order).
    named.sort(key=lambda pair: pair[0])
    return [path for _, path in named]


def _scan_folder(root: Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Paths relative to `root` (a bytes array) in sorted order, and labels (int64) from class
    subfolders (sorted names) if there are any."""
    top, subfolders = _entries(root)
    classes = []
    for name in subfolders:
        if name.startswith("."):
            continue
        members = _images_under(root / name)
        if members:
            prefix = os.fsencode(name) + b"/"
            classes.append((name, np.asarray([prefix + m for m in members], dtype=bytes)))
    if classes and top:
        raise DataError(
            f"folder {root} mixes images ({os.fsdecode(top[0])}, ...) with class subfolders; "
            "move the images into a subfolder, or remove the subfolders for an unlabelled dataset"
        )
    if classes:
        files = np.concatenate([members for _, members in classes])
        labels = np.repeat(np.arange(len(classes)), [len(m) for _, m in classes])
        return files, labels.astype(np.int64), [name for name, _ in classes]
    if not top:
        raise DataError(
            f"folder {root} has no images ({', '.join(_IMAGE_SUFFIXES)}), neither directly nor "
            "in class subfolders; add images or point folder: at the right directory"
        )
    return np.asarray(top, dtype=bytes), None, None


def _unit_hashes(relative_paths: np.ndarray) -> np.ndarray:
    """A stable hash in [0, 1) of each relative path ("/"-separated, its bytes: UTF-8 for
    UTF-8 names): the same on every machine and Python run."""
    hashes = np.empty(len(relative_paths), np.float64)
    for i, path in enumerate(relative_paths):
        hashes[i] = int.from_bytes(hashlib.sha256(path).digest()[:8], "big") / 2.0**64
    return hashes


def _test_mask(hashes: np.ndarray) -> np.ndarray:
    """About TEST_FRACTION of the files go to test, each decided by its own path's hash alone,
    so adding a file never moves another; tiny folders get at least one file on each side."""
    mask = hashes < TEST_FRACTION
    if not mask.any():
        mask[int(np.argmin(hashes))] = True
    if mask.all():
        mask[int(np.argmax(hashes))] = False
    return mask
