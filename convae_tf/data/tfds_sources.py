"""TFDS sources: the embedded `sprites` builder and any TFDS image dataset by name."""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import downloader as tfds_downloader

from convae_tf.data import sprites
from convae_tf.data.source import SPEC_FORMS, Source, first_line, to_image
from convae_tf.errors import DataError

log = logging.getLogger(__name__)


def load_sprites(spec: str, data_dir: str | None, size: tuple[int, int] | None) -> Source:
    _, _, config = spec.partition("/")
    config = config or sprites.ConvaeSprites.DEFAULT_CONFIG_NAME
    if config not in {c.name for c in sprites.ConvaeSprites.BUILDER_CONFIGS}:
        forms = ", ".join(f"'sprites/{s}'" for s in sprites.SIZES)
        raise DataError(f"unknown sprites size in {spec!r}; use 'sprites' or one of {forms}")
    builder = sprites.ConvaeSprites(config=config, data_dir=data_dir)
    return _from_builder(spec, builder, size)


def load_tfds(spec: str, data_dir: str | None, size: tuple[int, int] | None) -> Source:
    name = spec.split("/")[0].split(":")[0]
    try:
        builder = tfds.builder(spec, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        close = difflib.get_close_matches(name, tfds.list_builders(with_community_datasets=False))
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise DataError(f"unknown dataset {spec!r}; {hint}{SPEC_FORMS}") from None
    except (ValueError, AssertionError, KeyError) as e:  # bad config or version
        raise DataError(
            f"cannot load TFDS dataset {spec!r} ({first_line(e)}); check the config and "
            f"version in 'name/config:version'"
        ) from e
    return _from_builder(spec, builder, size)


# TFDS retries each download 10 times with exponential backoff (0.2 s · 2^k): offline, a
# dataset that is not prepared yet fails only after about 3.5 silent minutes. Three retries
# (about 1 s of backoff) still ride out a transient server error.
DOWNLOAD_RETRIES = 3


@contextlib.contextmanager
def _fewer_download_retries() -> Iterator[None]:
    previous = getattr(tfds_downloader, "MAX_RETRIES", None)
    if previous is None:  # a TFDS without the knob: leave its own policy alone
        yield
        return
    tfds_downloader.MAX_RETRIES = min(previous, DOWNLOAD_RETRIES)
    try:
        yield
    finally:
        tfds_downloader.MAX_RETRIES = previous


@contextlib.contextmanager
def _preparing_alone(builder) -> Iterator[None]:
    """Lets one process at a time prepare `builder`'s dataset in its data dir.

    TFDS writes a dataset into a folder named `incomplete.RANDOM`, then renames it; two
    processes that prepare the same dataset at once (two runs started together on a fresh
    machine) each find it missing and the second rename fails. Behind the lock, the second
    finds it prepared. An flock is dropped when its process ends, however it ends. Data dirs
    on remote file systems (gs://...) or read-only ones (nothing to prepare there) go unlocked.
    """
    lock = _lock_file(str(builder.data_dir_root), builder.name)
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _lock_file(root: str, name: str) -> Path | None:
    """The lock file of dataset `name` in data dir `root`, or None where none can be made."""
    if "://" in root:
        return None
    path = Path(root) / f".{name}.prepare.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        return None
    return path


def _from_builder(spec, builder, size: tuple[int, int] | None) -> Source:
    try:
        if not builder.is_prepared():
            with _preparing_alone(builder), _fewer_download_retries():
                if builder.is_prepared():
                    # By another process while this one waited: the info that the builder
                    # read when it was made is empty; read the one written since.
                    builder.info.read_from_directory(builder.data_dir)
                else:
                    builder.download_and_prepare()
    except DataError:
        raise
    except Exception as e:  # network, disk or generation failures all end here
        raise DataError(
            f"dataset {spec!r} could not be downloaded or prepared ({type(e).__name__}: "
            f"{first_line(e)}); prepare it where there is network access (e.g. `tfds build "
            f"{builder.name} --data_dir DIR`) and pass that directory as --data_dir "
            f"(now {builder.data_dir_root})"
        ) from e
    features = builder.info.features
    image_key = _key_of_type(features, tfds.features.Image, prefer="image")
    if image_key is None:
        raise DataError(
            f"TFDS dataset {spec!r} has no image feature (features: {sorted(features)}); "
            "use an image dataset such as 'mnist' or 'cifar10'"
        )
    label_key = _key_of_type(features, tfds.features.ClassLabel, prefer="label")
    image_feature = features[image_key]
    height, width, channels = image_feature.shape
    if size is None and (height is None or width is None):
        raise DataError(
            f"images of {spec!r} vary in size; pass image_size=(H, W) (--image_size) to "
            "resize them to one size"
        )
    image_shape = (*(size or (height, width)), channels)
    train_split, test_split = _pick_splits(spec, list(builder.info.splits))

    def convert(example):
        out = {"image": to_image(example[image_key], size)}
        if label_key is not None:
            out["label"] = tf.cast(example[label_key], tf.int64)
        return out

    def read(split):
        ds = builder.as_dataset(split=split, shuffle_files=False)
        return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    train, test = read(train_split), read(test_split)
    train_labels = None
    if label_key is not None:
        # Partial decoding parses the label only: counting classes never decodes an image.
        only_label = tfds.decode.PartialDecoding({label_key: True})
        train_labels = builder.as_dataset(
            split=train_split, shuffle_files=False, decoders=only_label
        ).map(lambda ex: tf.cast(ex[label_key], tf.int64))
    return Source(
        spec=spec,
        image_shape=image_shape,
        num_classes=features[label_key].num_classes if label_key is not None else None,
        train=train,
        test=test,
        num_train=_num_examples(train, builder, train_split),
        num_test=_num_examples(test, builder, test_split),
        train_labels=train_labels,
    )


def _key_of_type(features, feature_type, prefer: str) -> str | None:
    keys = sorted(k for k, f in features.items() if isinstance(f, feature_type))
    return prefer if prefer in keys else (keys[0] if keys else None)


def _pick_splits(spec: str, names: Sequence[str]) -> tuple[str, str]:
    """(train, test) split names; `names` is empty when TFDS does not know them (mocked data)."""
    if not names:
        return "train", "test"
    if "train" not in names:
        raise DataError(
            f"TFDS dataset {spec!r} has no 'train' split (it has {sorted(names)}); use a "
            "dataset with a train split, or export the images to an npz: or folder: source"
        )
    if "test" in names:
        return "train", "test"
    if "validation" in names:
        log.warning("%s has no 'test' split: using its 'validation' split as test", spec)
        return "train", "validation"
    log.warning("%s has no 'test' split: using the last 20%% of 'train' as test", spec)
    return "train[:80%]", "train[80%:]"


def _num_examples(ds: tf.data.Dataset, builder, split: str) -> int:
    n = int(ds.cardinality())
    return n if n >= 0 else builder.info.splits[split].num_examples
