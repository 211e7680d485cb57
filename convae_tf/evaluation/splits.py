"""The examples of a finished run's dataset, as evaluate and embed read them.

The splits are those of the dataset, named as on the command line:

- `test`: the dataset's test split, every class (anomalies included).
- `validation`: the held-out part of the train split that training validated on: the first
  `validation_fraction` of the train split after keeping `normal_classes` (as `make_pipelines`
  does), so anomaly thresholds are calibrated on normal data the model never trained on.
- `train`: the dataset's whole train split, every class (validation part included).

A run trained with `--crop` is measured on crops, `crops_per_image` of each image, the crops
of one image in a row: validation and test take the very crops that training measured
(data/crops.py), and the train split fixed crops of its own. A run trained with `--binarize`
is measured on binary images (data/binarize.py): each split binarised once, with its own fixed
draw (after cropping, as training does).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from convae_tf import data
from convae_tf.artifacts.run_folder import Run
from convae_tf.data import crops
from convae_tf.errors import ConfigError

SPLITS = ("test", "validation", "train")


def load_source(run: Run, dataset: str | None = None, data_dir: str | None = None):
    """The run's dataset (or `dataset`), at the size the model was trained on (a run trained on
    crops reads images of any size, each at least the crop)."""
    image_size = run.train.get("image_size")
    crop = options_of(run).crop
    source = data.load_source(
        dataset or run.train["dataset"],
        data_dir=data_dir or run.train.get("data_dir"),
        image_size=None if image_size is None else tuple(image_size),
        crop=crop,
        channels=run.train.get("channels"),
    )
    shape = data.split_shape(source, crop)
    if shape != run.image_shape:
        what = "images" if crop is None else "crops"
        raise ConfigError(
            f"dataset {source.spec!r} has {what} of shape {shape}, but the model "
            f"in {run.workdir} was trained on {run.image_shape}; pick a dataset of that shape"
        )
    return source


def options_of(run: Run) -> data.PipelineOptions:
    """The pipeline options the run trained with (crop, binarize, validation_fraction, ...)."""
    return data.PipelineOptions.of_run(run.train)


def crops_per_image(run: Run) -> int:
    """How many examples each image of a split gives: its crops, or 1 (the image itself)."""
    options = options_of(run)
    return options.crops_per_image if options.crop is not None else 1


def split_examples(run: Run, source: data.Source, split: str) -> tf.data.Dataset:
    """Examples `{"image", "label"?}` of a split, in a fixed order (see the module docstring);
    cropped and binarised as the run's training measured them (`data.fixed_split`), so the test
    and validation images are those that training measured."""
    if split not in SPLITS:
        raise ConfigError(f"--split={split!r} is not valid; choose one of {SPLITS}")
    return data.fixed_split(_whole_images(run, source, split), split, options_of(run))


def _whole_images(run: Run, source: data.Source, split: str) -> tf.data.Dataset:
    if split == "test":
        return source.test
    if split == "train":
        return source.train
    images = validation_count(run, source) // crops_per_image(run)
    return normal_examples(source.train, run.normal_classes).take(images)


def normal_examples(examples: tf.data.Dataset, normal_classes) -> tf.data.Dataset:
    """The examples of `normal_classes` (every example when None), in order."""
    if normal_classes is None:
        return examples
    keep = tf.constant(normal_classes, tf.int64)
    return examples.filter(lambda ex: tf.reduce_any(tf.equal(ex["label"], keep)))


def validation_count(run: Run, source: data.Source) -> int:
    """How many examples the validation split holds: the images the run held out for
    validation (as `make_pipelines` splits them), or their crops."""
    options = options_of(run)
    return data.make_pipelines(
        source,
        batch_size=int(run.train.get("batch_size", 128)),
        validation_fraction=float(options.validation_fraction),
        normal_classes=run.normal_classes,
        crop=options.crop,
        crops_per_image=options.crops_per_image,
    ).num_validation


def train_count(run: Run, source: data.Source) -> int:
    """How many examples the train split holds: its images, or their crops."""
    return source.num_train * crops_per_image(run)


def to_arrays(
    examples: tf.data.Dataset, limit: int | None = None, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray | None]:
    """(images float32 (N, H, W, C), labels int64 (N,) or None) of the first `limit` examples."""
    if limit is not None:
        examples = examples.take(limit)
    images, labels = [], []
    for batch in examples.batch(batch_size).as_numpy_iterator():
        images.append(batch["image"])
        if "label" in batch:
            labels.append(batch["label"])
    if not images:
        raise ConfigError("the split holds no example")
    return np.concatenate(images), (np.concatenate(labels) if labels else None)


def in_batches(fn, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """`fn` applied to consecutive batches of `images`, outputs concatenated as numpy."""
    outputs = [
        keras.ops.convert_to_numpy(fn(tf.constant(images[i : i + batch_size])))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs)


def streamed(fn, examples: tf.data.Dataset, batch_size: int = 256) -> np.ndarray:
    """`fn` applied to the images of `examples` batch by batch, outputs concatenated as numpy
    (small per-image values: scores, codes), so the images are never held together; empty
    when `examples` is."""
    outputs = [
        keras.ops.convert_to_numpy(fn(tf.constant(batch)))
        for batch in examples.map(lambda ex: ex["image"]).batch(batch_size).as_numpy_iterator()
    ]
    return np.concatenate(outputs) if outputs else np.zeros(0)


def sample_arrays(
    examples: tf.data.Dataset, total: int, count: int, seed: int = 0, batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """`count` examples drawn uniformly without replacement (all of them when there are fewer),
    in dataset order: (images, labels or None, their indices). Streams the split, so memory holds
    the sample only, never the whole split."""
    chosen = _draw(total, count, seed)
    images, labels, start = [], [], 0
    for batch in examples.batch(batch_size).as_numpy_iterator():
        size = len(batch["image"])
        inside = chosen[(chosen >= start) & (chosen < start + size)] - start
        images.append(batch["image"][inside])
        if "label" in batch:
            labels.append(batch["label"][inside])
        start += size
    return np.concatenate(images), (np.concatenate(labels) if labels else None), chosen


def sample_train(
    run: Run, source: data.Source, count: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """`sample_arrays` of the run's train split, the same draw. A source streamed from files
    (folder:, tfrecord:) picks the references of the drawn images (those of the drawn crops)
    first, so only the sample is read and decoded, not the whole split. (A binarised run's
    draws depend on each image's position in the split, so it streams the split as
    `sample_arrays` does.)"""
    total, per_image = train_count(run, source), crops_per_image(run)
    if not source.streams_files or run.train.get("binarize", False):
        return sample_arrays(split_examples(run, source, "train"), total, count, seed)
    chosen = _draw(total, count, seed)
    images = np.unique(chosen // per_image)  # sorted: the drawn images, in split order
    drawn = np.zeros(source.num_train, bool)
    drawn[images] = True
    drawn = tf.constant(drawn)
    refs = source.train_refs.enumerate().filter(lambda index, _: tf.gather(drawn, index))
    examples = source.decode(refs.map(lambda _, ref: ref))
    options = options_of(run)
    if options.crop is not None:  # each image cropped as at its position in the whole split
        positioned = tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(images), examples)
        examples = crops.fixed_at(positioned, "train", options.crop, per_image)
    all_crops, labels = to_arrays(examples)
    kept = np.searchsorted(images, chosen // per_image) * per_image + chosen % per_image
    return all_crops[kept], (None if labels is None else labels[kept]), chosen


def _draw(total: int, count: int, seed: int) -> np.ndarray:
    """`count` sorted indices below `total`, uniformly without replacement (all if fewer)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=min(count, total), replace=False))
