"""Image files (PNG/JPEG) decoded inside tf.data, as a split streams: nothing is decoded ahead.

TF's decode ops fail without naming the file. So each file is decoded in a one-element dataset
of its own whose errors are ignored, followed by a stand-in marked bad: exactly one element per
file comes out, and it carries the path. With `bad_files="stop"` the first bad one fails the
iteration with an error whose message names the path (`named_file_errors` turns it into a
`DataError`); with `"skip"` it is dropped and its path recorded in `SkippedFiles`. Creating
those datasets is a stateful op, so under op determinism (training's default) tf.data decodes
the files one at a time: on 2 cores ~3,900 64x64 PNGs/s, against ~6,200 without determinism and
~12,000 for a bare parallel decode; still over 15x what the default model trains on
(experiments/input_speed.py), and `prepare` records avoid the decode altogether.

A file whose shape differs from the reference (the first readable file) fails in both modes,
unless a target size is given: then every image takes the reference's channels and that size.
With `channels` (1 or 3) every image is converted to those first, whatever the reference's.
With a crop size instead (a run that trains on crops), every image keeps its own size, takes
the reference's channels and stays uint8 as decoded (the pipeline crops it, then converts the
crops: a whole photo as float32 would hold four times the memory); an image smaller than the
crop fails in both modes, naming the file and both sizes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
from collections.abc import Iterator, Sequence

import tensorflow as tf

from convae_tf.data import ops
from convae_tf.data.source import dims, first_line
from convae_tf.errors import DataError

BAD_FILES = ("stop", "skip")
# Files decoded before training, in sorted order: a wrongly assembled small folder then fails
# before a run folder is written. A constant, so loading stays independent of the file count.
PREFLIGHT_FILES = 16
# Delimits our message inside a TF error (assertion failed: [<<...>>] plus TF's node context).
_OPEN, _CLOSE = "<<convae_tf data error: ", ">>"
_MESSAGE = re.compile(re.escape(_OPEN) + r"(.*?)" + re.escape(_CLOSE), re.DOTALL)
_SKIP_HINT = "pass --bad_files=skip to skip unreadable files"


class SkippedFiles:
    """Unreadable files skipped so far, each once (a file met every epoch counts once)."""

    def __init__(self) -> None:
        self._paths: dict[str, None] = {}  # an ordered set: the order they were met
        self._lock = threading.Lock()  # tf.data calls `record` from its own threads

    def record(self, path) -> bool:
        path = path.numpy() if hasattr(path, "numpy") else path
        with self._lock:
            self._paths[os.fsdecode(path)] = None
        return False

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return list(self._paths)

    def summary(self, shown: int = 3) -> str | None:
        """One line for the user, or None when nothing was skipped."""
        paths = self.paths
        if not paths:
            return None
        more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
        return (
            f"skipped {len(paths)} unreadable image file(s): {', '.join(paths[:shown])}{more}; "
            "remove or re-save them"
        )


@dataclasses.dataclass(frozen=True)
class FileDecoder:
    """A dataset of `{"path": string, "label"?: int64}` -> `{"image": float32 [H, W, C] in
    [0, 1], "label"?}`, in the same order (less the skipped files)."""

    reference: str  # the file whose shape every other must have (without `size`)
    reference_shape: tuple[int, int, int]  # as decoded
    size: tuple[int, int] | None
    bad_files: str
    skipped: SkippedFiles | None  # None unless bad_files == "skip"
    # The least size of an image (the run's crop) when images may differ in size (no `size`).
    crop: tuple[int, int] | None = None
    # Channels every image is converted to (1 gray, 3 RGB); None: the reference's, as decoded.
    channels: int | None = None

    @property
    def any_size(self) -> bool:
        return self.size is None and self.crop is not None

    @property
    def reference_bytes(self) -> bytes:
        # Read as an attribute inside the traced map: AutoGraph would try to convert a call.
        return os.fsencode(self.reference)

    @property
    def image_shape(self) -> tuple[int | None, int | None, int]:
        """(H, W, C); (None, None, C) when the images keep their own sizes (`any_size`)."""
        height_width = (None, None) if self.any_size else self.size or self.reference_shape[:2]
        return (*height_width, self.reference_shape[2])

    def __call__(self, refs: tf.data.Dataset) -> tf.data.Dataset:
        parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
        # An interleave of one-element datasets, in order. (Under op determinism tf.data runs
        # it serially all the same: creating a dataset is a stateful op. It is still ~20%
        # faster than a map pulling the element out with get_single_element.)
        examples = refs.interleave(
            _decode_or_mark_bad, cycle_length=tf.data.AUTOTUNE, block_length=1, **parallel
        )
        if self.bad_files == "skip":
            examples = examples.filter(self._keep_or_record)
        return examples.map(self._finish, **parallel)

    def _keep_or_record(self, example) -> tf.Tensor:
        # py_function runs for bad files only; it returns False, so the filter drops them.
        return tf.cond(
            example["ok"],
            lambda: tf.constant(True),
            lambda: tf.py_function(self.skipped.record, [example["path"]], tf.bool),
        )

    def _finish(self, example) -> dict:
        path, image = example["path"], example["image"]
        unreadable = tf.strings.join(
            [_OPEN, "cannot read or decode image ", path, " (missing, unreadable, truncated or ",
             "not a PNG/JPEG); remove or re-save that file, or ", _SKIP_HINT, _CLOSE]
        )  # fmt: skip
        image = _fail_unless(example["ok"], unreadable, image)
        if self.any_size:
            image = self._at_least_crop(image, path)
        elif self.size is None:
            if self.channels:
                image = _to_channels(image, self.channels)
            image = ops.to_unit_float(self._same_shape(image, path))
        else:
            image = _to_channels(image, self.reference_shape[2])
            image = ops.resize(ops.to_unit_float(image), self.size)
            image = tf.ensure_shape(image, self.image_shape)
        out = {"image": image}
        if "label" in example:
            out["label"] = example["label"]
        return out

    def _same_shape(self, image: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
        expected = tf.constant(self.reference_shape, tf.int32)
        shape = tf.shape(image, out_type=tf.int32)
        mismatch = tf.strings.join(
            [_OPEN, "images differ in size or channels: ", self.reference_bytes, " is ",
             dims(self.reference_shape), " but ", path, " is ", _dims(shape),
             "; pass image_size=(H, W) (--image_size) to resize them to one size, or "
             "crop=(H, W) (--crop) to train on crops of images of any size", _CLOSE]
        )  # fmt: skip
        same = tf.reduce_all(tf.equal(shape, expected))
        return tf.ensure_shape(_fail_unless(same, mismatch, image), self.reference_shape)

    def _at_least_crop(self, image: tf.Tensor, path: tf.Tensor) -> tf.Tensor:
        """uint8 [h, w, C] with the reference's C, at its own size, at least the crop."""
        image = _to_channels(image, self.reference_shape[2])
        shape = tf.shape(image, out_type=tf.int32)
        too_small = tf.strings.join(
            [_OPEN, "image ", path, " is ", _dims(shape[:2]), ", smaller than the crop ",
             dims(self.crop), "; remove it, or pass a smaller crop (--crop)", _CLOSE]
        )  # fmt: skip
        fits = tf.reduce_all(shape[:2] >= tf.constant(self.crop, tf.int32))
        return tf.ensure_shape(_fail_unless(fits, too_small, image), self.image_shape)


def make_decoder(
    paths: Sequence[bytes],
    size: tuple[int, int] | None,
    bad_files: str,
    crop: tuple[int, int] | None = None,
    channels: int | None = None,
) -> FileDecoder:
    """A decoder whose reference is the first readable of `paths` (sorted file order), checked
    on the first PREFLIGHT_FILES of them. `crop`: images may differ in size, each at least this
    (see the module docstring). `channels`: every image converted to 1 (gray) or 3 (RGB)
    channels, whatever the first file's."""
    skipped = SkippedFiles() if bad_files == "skip" else None
    first = paths[:PREFLIGHT_FILES]
    reference = None
    for path in first:
        try:
            image = tf.io.decode_image(
                tf.io.read_file(path), channels=0, dtype=tf.uint8, expand_animations=False
            )
        except tf.errors.OpError as error:
            if bad_files == "stop":
                raise DataError(
                    f"cannot decode image {os.fsdecode(path)} ({_op_reason(error)}); remove or "
                    f"re-save that file, or {_SKIP_HINT}"
                ) from None
            skipped.record(path)
            continue
        shape = tuple(int(d) for d in image.shape)
        reference = (os.fsdecode(path), shape if not channels else (*shape[:2], channels))
        break
    if reference is None:
        raise DataError(
            f"none of the first {len(first)} image files can be decoded (e.g. "
            f"{os.fsdecode(first[0])}); check that the folder holds PNG/JPEG images"
        )
    decoder = FileDecoder(reference[0], reference[1], size, bad_files, skipped, crop, channels)
    with named_file_errors():
        for _ in decoder(tf.data.Dataset.from_tensor_slices({"path": list(first)})):
            pass
    return decoder


@contextlib.contextmanager
def named_file_errors() -> Iterator[None]:
    """Turns the error of a bad file met while streaming (an image file, or a record file
    whose checksum fails) into a one-line DataError."""
    try:
        yield
    except tf.errors.DataLossError as error:
        # A record file (tfrecord:) whose checksum fails; TF does not say which file.
        raise DataError(
            f"a record file is corrupt ({_op_reason(error)}); prepare the record folder again "
            "with python -m convae_tf.prepare"
        ) from None
    except tf.errors.OpError as error:
        found = _MESSAGE.search(str(error))
        if found is None:
            raise
        raise DataError(found.group(1)) from None


def _decode_or_mark_bad(ref) -> tf.data.Dataset:
    """A one-element dataset: the reference with its decoded image and ok=True, or with a
    stand-in image and ok=False when the file cannot be read or decoded."""

    def decode(ref):
        raw = tf.io.read_file(ref["path"])
        image = tf.io.decode_image(raw, channels=0, dtype=tf.uint8, expand_animations=False)
        return {**ref, "image": image, "ok": tf.constant(True)}

    decoded = tf.data.Dataset.from_tensors(ref).map(decode).ignore_errors()
    stand_in = {**ref, "image": tf.zeros((1, 1, 1), tf.uint8), "ok": tf.constant(False)}
    return decoded.concatenate(tf.data.Dataset.from_tensors(stand_in)).take(1)


def _fail_unless(ok: tf.Tensor, message: tf.Tensor, value: tf.Tensor) -> tf.Tensor:
    """`value` when `ok`; otherwise the iteration fails with an error whose text holds
    `message` (StringToNumber of the message). Not tf.debugging.Assert: it is a stateful op,
    and under op determinism tf.data runs maps that hold stateful ops serially."""
    fail = lambda: value + tf.cast(tf.strings.to_number(message), value.dtype)  # noqa: E731
    return tf.cond(ok, lambda: value, fail)


def _to_channels(image: tf.Tensor, target: int) -> tf.Tensor:
    """uint8 [H, W, 1-4] -> [H, W, target]: grey <-> colour, alpha added (opaque) or dropped."""
    channels = tf.shape(image)[-1]
    has_alpha = tf.logical_or(tf.equal(channels, 2), tf.equal(channels, 4))
    colour = tf.cond(has_alpha, lambda: image[..., :-1], lambda: image)
    is_grey = tf.equal(tf.shape(colour)[-1], 1)
    if target in (3, 4):
        colour = tf.cond(is_grey, lambda: tf.tile(colour, [1, 1, 3]), lambda: colour)
        colour = tf.ensure_shape(colour, (None, None, 3))
    else:
        colour = tf.cond(
            is_grey,
            lambda: colour,
            lambda: tf.image.rgb_to_grayscale(tf.ensure_shape(colour, (None, None, 3))),
        )
        colour = tf.ensure_shape(colour, (None, None, 1))
    if target in (1, 3):
        return colour
    opaque = tf.fill(tf.shape(colour[..., :1]), tf.constant(255, tf.uint8))
    alpha = tf.cond(has_alpha, lambda: image[..., -1:], lambda: opaque)
    return tf.concat([colour, tf.ensure_shape(alpha, (None, None, 1))], axis=-1)


def _dims(shape: tf.Tensor) -> tf.Tensor:
    """A shape tensor as text, e.g. "9x5x3"."""
    return tf.strings.reduce_join(tf.strings.as_string(shape), separator="x")


def _op_reason(error: tf.errors.OpError) -> str:
    """TF's message without its `{{function_node ...}}` prefix and `[Op:...]` suffix."""
    reason = re.sub(r"\{\{[^}]*\}\}\s*", "", first_line(error))
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", reason) or type(error).__name__
