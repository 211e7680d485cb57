"""Run an exported model (a SavedModel folder or a .tflite file) on images or codes.

    python -m convae_tf.predict --model=exported_models/ae-sprites/1 --task=reconstruct \
        --input=images/ --output=out/
    python -m convae_tf.predict --model=exported_models/ae-sprites/1/model_int8.tflite \
        --task=score --input=test.npz --output=out/

    python -m convae_tf.predict --model=exported_models/ae-sprites/1 --task=inpaint \
        --input=photos/ --mask=masks/ --output=out/

Tasks: reconstruct (PNG per image), encode (<output name>.npy, rows in the order of
files.txt), decode (codes from .npy/.npz → PNG per row), score (scores.csv: file,score),
inpaint (photos and their masks → PNG per photo; a SavedModel, or the TFLite file of a model
trained to fill holes: deploy/signatures.py).

reconstruct takes photos of any size, gray or colour (deploy/photos.py: how they are read,
converted to the model's channels and written back, a PNG of the same size and mode): a
fully convolutional SavedModel runs a photo whole up to WHOLE_IMAGE_PIXELS, larger ones and
every model of one size (a dense code, a TFLite file) tile by tile, seams blended
(deploy/tiles.py). Each photo is read, restored and written (atomically) on its own: a photo
that fails is named on one line and the others are still written; the exit code is then 2.
Photos are never resized: one smaller than the model's smallest size (the model card's
input.min_size; a model of one size: that size) is refused; a TFLite file of a fully
convolutional model (fixed shapes) runs smaller photos mirrored out to its size. inpaint
restores photos as reconstruct does, each with its mask (--mask: a file, or a folder holding a
file of each photo's stem; any image mode, white = missing, the photo's size): the model's
`inpaint` signature fills the holes, and the known pixels are written exactly as they were. For
both, --model may name several models, comma-separated (a colour and a gray one): each photo
goes to the model of its channel count, or to the first converted to its channels. encode and
score take the model's own size and channels, decode its code size: a mismatch is an error.
--precision=auto (the default) runs a SavedModel's convolutions in bfloat16 for photos on a CPU
with native bfloat16 (bfloat16.py, TF's oneDNN rewrite), float32 for everything else.

This module imports only TensorFlow, LiteRT, numpy, PIL and absl (docs/ARCHITECTURE.md:
inference runs where convae_tf's models are not needed), and reads its helpers from their
files: tiles.py and photos.py beside it, and the quiet-output helper convae_tf/utils/quiet.py
(or quiet.py beside it). So it works as a stand-alone script beside an exported model, with
tiles.py and photos.py copied beside it.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np

TASKS = {
    "reconstruct": "serving_default",
    "encode": "encode",
    "decode": "decode",
    "score": "score",
    "inpaint": "inpaint",
}
# The inpaint signature's inputs and output (convae_tf/deploy/signatures.py, not imported).
IMAGES, MASKS, INPAINTED = "images", "masks", "inpainted"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SAVED_MODEL_CHUNK = 64  # images per SavedModel call: bounds memory on large inputs
USAGE_EXIT_CODE = 2
# reconstruct: a fully convolutional model runs photos up to this size whole, larger ones in
# tiles of TILE (overlapping by TILE_OVERLAP): its activations grow with the pixels it sees.
WHOLE_IMAGE_PIXELS = 1 << 20
TILE, TILE_OVERLAP = 512, 64
# Tiles in flight per model call. On a 12-megapixel photo (shipped colour denoiser, 2 cores)
# 2 run as fast as 4 at 0.4 GB less peak memory: two tiles already fill the cores.
TILES_PER_CALL = 2
MAX_MEGAPIXELS = 120.0  # photos above are refused (--max_megapixels raises it)
PRECISIONS = ("auto", "float32", "bfloat16")  # --precision


class InputError(ValueError):
    """Unusable model path, input or output; the message is one line naming the fix."""


# ---------------------------------------------------------------------------- quiet output
def _load_beside(file_name: str, *folders: Path):
    """The module in the first of `folders` that holds `file_name`, loaded from its file, not
    imported, so that this script never imports convae_tf; None if none holds it."""
    for folder in folders:
        path = folder / file_name
        if path.is_file():
            name = f"_convae_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
    return None


_HERE = Path(__file__).resolve().parent


# The hold-back of TensorFlow's and LiteRT's C++ start-up lines, and TensorFlow's import without
# the Keras that it imports eagerly (which running exported models never uses: about 1.5 s of
# start-up). Their one copy is convae_tf/utils/quiet.py (standard library and absl only), loaded
# from the file, not injected by the entry module: the package and a stand-alone run alike. A
# copy of this script taken out of the package looks for quiet.py beside it, and does without.
_quiet = _load_beside("quiet.py", _HERE, _HERE.parent / "utils")
native_info_held_back = _quiet.native_info_held_back if _quiet else contextlib.nullcontext
_import_tensorflow_alone = _quiet.import_tensorflow_alone if _quiet else lambda: None
tiles = _load_beside("tiles.py", _HERE)
photos = _load_beside("photos.py", _HERE)
bfloat16 = _load_beside("bfloat16.py", _HERE, _HERE.parent / "utils")


# --------------------------------------------------------------------------------- runners
class SavedModelRunner:
    """A SavedModel's signatures as `runner(signature, array) → {output name: array}`; with
    `in_bfloat16`, their convolutions and matmuls run in bfloat16 (TF's oneDNN rewrite,
    convae_tf/utils/bfloat16.py), else in float32."""

    def __init__(self, path: str | os.PathLike, in_bfloat16: bool = False):
        with native_info_held_back():
            import tensorflow as tf

        if in_bfloat16 and bfloat16 is None:
            raise InputError("--precision=bfloat16 needs bfloat16.py beside predict.py")
        self.in_bfloat16 = in_bfloat16
        self.path = saved_model_version_dir(Path(path))
        self._tf = tf
        self._loaded = tf.saved_model.load(str(self.path))
        self.signatures = sorted(self._loaded.signatures.keys())

    def input_specs(self, signature: str) -> dict[str, tuple[int | None, ...]]:
        """{input name: shape without the batch dimension} of a signature."""
        _, kwargs = self._function(signature).structured_input_signature
        return {name: tuple(spec.shape[1:]) for name, spec in kwargs.items()}

    def input_spec(self, signature: str) -> tuple[str, tuple[int | None, ...]]:
        """(input name, shape without the batch dimension) of a one-input signature."""
        specs = self.input_specs(signature)
        if len(specs) != 1:
            raise InputError(f"signature {signature!r} takes {len(specs)} inputs; expected one")
        return next(iter(specs.items()))

    def __call__(self, signature: str, batch: np.ndarray) -> dict[str, np.ndarray]:
        name, _ = self.input_spec(signature)
        return self.run(signature, {name: batch})

    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A signature of one input or more on batches of the same length, in chunks."""
        function, length = self._function(signature), len(next(iter(inputs.values())))
        # The rewrite is a process-wide option: set either way, so float32 stays exact.
        precision = bfloat16.rewrite(self.in_bfloat16) if bfloat16 else contextlib.nullcontext()
        chunks, size = [], SAVED_MODEL_CHUNK
        with precision:
            for i in range(0, length, size):
                chunk = {k: self._tf.constant(v[i : i + size]) for k, v in inputs.items()}
                chunks.append(function(**chunk))
        return {key: np.concatenate([c[key].numpy() for c in chunks]) for key in chunks[0]}

    def _function(self, signature: str):
        if signature not in self._loaded.signatures:
            raise InputError(
                f"{self.path} has no signature {signature!r}; it has {', '.join(self.signatures)}"
            )
        return self._loaded.signatures[signature]


class TFLiteRunner:
    """A .tflite file's signatures through LiteRT's signature runners (not the deprecated
    tf.lite.Interpreter). Files with a fixed batch of 1 are run one example at a time."""

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        try:
            with native_info_held_back():  # LiteRT logs its XNNPACK delegate on allocation
                self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise InputError(f"{self.path} is not a readable .tflite file ({error})") from None
        self.signatures = sorted(self._interpreter.get_signature_list())
        self._runners = {}

    def _runner(self, signature: str):
        if signature not in self.signatures:
            raise InputError(
                f"{self.path} has no signature {signature!r}; it has {', '.join(self.signatures)}"
            )
        if signature not in self._runners:
            self._runners[signature] = self._interpreter.get_signature_runner(signature)
        return self._runners[signature]

    def input_specs(self, signature: str) -> dict[str, tuple[int | None, ...]]:
        """{input name: shape without the batch dimension} of a signature."""
        details = self._runner(signature).get_input_details()
        return {
            name: tuple(None if d < 0 else int(d) for d in detail["shape_signature"][1:])
            for name, detail in details.items()
        }

    def input_spec(self, signature: str) -> tuple[str, tuple[int | None, ...]]:
        """(input name, shape without the batch dimension) of a one-input signature."""
        specs = self.input_specs(signature)
        if len(specs) != 1:
            raise InputError(f"signature {signature!r} takes {len(specs)} inputs; expected one")
        return next(iter(specs.items()))

    def __call__(self, signature: str, batch: np.ndarray) -> dict[str, np.ndarray]:
        name, _ = self.input_spec(signature)
        return self.run(signature, {name: batch})

    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A signature of one input or more on batches of the same length, in the file's
        batch size (a fixed batch of 1: one example at a time)."""
        runner = self._runner(signature)
        detail = next(iter(runner.get_input_details().values()))
        length, fixed_batch = len(next(iter(inputs.values()))), int(detail["shape_signature"][0])
        step = length if fixed_batch < 0 else fixed_batch
        if length % step:
            raise InputError(f"{self.path} needs batches of {step}; got {length} examples")
        # Copies: the runner's output arrays may alias buffers that the next call overwrites.
        chunks = [
            {
                k: np.array(v)
                for k, v in runner(**{n: x[i : i + step] for n, x in inputs.items()}).items()
            }
            for i in range(0, length, step)
        ]
        return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def saved_model_version_dir(path: Path) -> Path:
    """`path` if it holds a SavedModel, else its highest-numbered version folder (TF Serving's
    layout `NAME/<version>/`)."""
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted(
        (int(p.name), p)
        for p in (path.iterdir() if path.is_dir() else ())
        if p.name.isdigit() and (p / "saved_model.pb").is_file()
    )
    if not versions:
        raise InputError(
            f"--model={path}: no SavedModel there (no saved_model.pb, no numbered version "
            "folder); give a version folder, its parent, or a .tflite file"
        )
    return versions[-1][1]


def load_runner(
    path: str | os.PathLike, in_bfloat16: bool = False
) -> SavedModelRunner | TFLiteRunner:
    """The runner of a SavedModel (in bfloat16 if asked) or of a .tflite file (as exported)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".tflite":
        return TFLiteRunner(path)
    if path.is_dir():
        return SavedModelRunner(path, in_bfloat16)
    raise InputError(f"--model={path}: not a SavedModel folder nor a .tflite file")


def model_card(path: Path) -> dict:
    """The model card beside an exported file or in a SavedModel folder; {} if none."""
    try:
        folder = path.parent if path.is_file() else saved_model_version_dir(path)
        return json.loads((folder / "model_card.json").read_text())
    except (InputError, OSError, ValueError):
        return {}


def unfit_for_score(path: Path) -> str | None:
    """Why the model card beside an exported file says its anomaly score is not fit for use
    (its AUROC fell below the float32 file's at export), or None. A missing or older card
    (without "fit_for") warns of nothing."""
    name = path.name if path.is_file() else "."
    card = model_card(path)
    for entry in card.get("files", {}).values():
        uses = entry.get("fit_for", ["score"])
        if entry.get("path") == name and "score" not in uses:
            return (
                f"{path} is fit for {', '.join(uses)} only: its score ranks anomalies worse than "
                "the float32 file's (model_card.json: score_use); use that file for scores"
            )
    return None


# ---------------------------------------------------------------------------------- inputs
def dims(shape) -> str:
    return "x".join(str(d) for d in shape)


def read_images(path: Path, expected: tuple[int, int, int]) -> tuple[list[str], np.ndarray]:
    """(names, float32 N×H×W×C in [0, 1]) from an image file, a folder of them or an npz/npy
    array; every image must already have the `expected` H×W×C."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(f"--input={path}: no {'/'.join(IMAGE_SUFFIXES)} files in the folder")
        images = [_read_image_file(f, expected) for f in files]
        return [f.name for f in files], np.stack(images)
    if not path.is_file():
        raise InputError(f"--input={path}: no such file or folder")
    if path.suffix.lower() in (".npz", ".npy"):
        array = _load_array(path, ("x", "x_test"))
        if _fits(array.shape, expected):  # one image
            array = array[None]
        elif array.ndim == 3 and expected[-1] == 1:  # N×H×W grayscale, as in mnist.npz
            array = array[..., None]
        if not _fits(array.shape[1:], expected):
            raise InputError(
                f"{path}: images are {dims(array.shape[1:])} but the model expects "
                f"{dims(expected)} (H×W×C); predict never resizes, resize them first"
            )
        names = [f"{path.stem}_{i:05d}" for i in range(len(array))]
        return names, _to_unit_float(array, path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [path.name], _read_image_file(path, expected)[None]
    raise InputError(f"--input={path}: expected a PNG/JPEG file, a folder of them, or .npz/.npy")


def _fits(shape, expected) -> bool:
    """Whether `shape` is `expected`, where None (a model of any size) matches any size."""
    return len(shape) == len(expected) and all(
        e is None or int(d) == e for d, e in zip(shape, expected, strict=True)
    )


def _read_image_file(path: Path, expected: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode == "P":  # palette indices mean nothing as pixels: expand them
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            array = np.asarray(image)
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"{path}: not a readable image ({error})") from None
    if array.ndim == 2:
        array = array[..., None]
    if not _fits(array.shape, expected):
        raise InputError(
            f"{path}: image is {dims(array.shape)} but the model expects {dims(expected)} "
            "(H×W×C); predict never resizes or converts, resize it first"
        )
    return _to_unit_float(array, path)


def _to_unit_float(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1 or np.isnan(array).any()):
            raise InputError(f"{path}: float images must be in [0, 1] (uint8 is divided by 255)")
        return array
    raise InputError(f"{path}: pixel type {array.dtype} not supported; use uint8 or float [0, 1]")


def _load_array(path: Path, preferred: tuple[str, ...]) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)  # never unpickle user input
    except (OSError, ValueError, EOFError) as error:
        raise InputError(f"{path}: not a readable .npy/.npz file ({error})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        if not loaded.files:
            raise InputError(f"{path}: the npz archive holds no arrays")
        key = next((k for k in preferred if k in loaded.files), loaded.files[0])
        return loaded[key]


def read_codes(path: Path, latent_dim: int) -> tuple[list[str], np.ndarray]:
    if not path.is_file() or path.suffix.lower() not in (".npy", ".npz"):
        raise InputError(f"--input={path}: decode takes codes from an existing .npy or .npz file")
    codes = _load_array(path, ("code", "codes", "mean"))
    if codes.ndim == 1:
        codes = codes[None]
    if codes.ndim != 2 or codes.shape[1] != latent_dim or not np.issubdtype(codes.dtype, np.number):
        raise InputError(
            f"{path}: codes are {dims(codes.shape)} {codes.dtype} but the model expects "
            f"N×{latent_dim} numbers"
        )
    return [f"decoded_{i:05d}" for i in range(len(codes))], codes.astype(np.float32)


# --------------------------------------------------------------------------------- outputs
def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    elif pixels.shape[-1] not in (3, 4):
        raise InputError(f"cannot write {pixels.shape[-1]}-channel images as PNG")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_file_names(names: list[str]) -> list[str]:
    """<stem>.png per input; the full name where stems collide (a.png and a.jpg)."""
    stems = [Path(n).stem if Path(n).suffix.lower() in IMAGE_SUFFIXES else n for n in names]
    clash = {s for s in stems if stems.count(s) > 1}
    return [f"{n if s in clash else s}.png" for n, s in zip(names, stems, strict=True)]


def render_outputs(task: str, names: list[str], outputs: dict[str, np.ndarray]) -> dict:
    """{file name: bytes} of a task's results, all in memory before anything is written."""
    if task in ("reconstruct", "decode"):
        (images,) = outputs.values()
        return {
            f: png_bytes(image) for f, image in zip(image_file_names(names), images, strict=True)
        }
    if task == "encode":
        files = {"files.txt": ("\n".join(names) + "\n").encode()}
        for key, array in outputs.items():
            buffer = io.BytesIO()
            np.save(buffer, array.astype(np.float32))
            files[f"{key}.npy"] = buffer.getvalue()
        return files
    (scores,) = outputs.values()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", "score"])
    writer.writerows((name, f"{float(s):.6g}") for name, s in zip(names, scores, strict=True))
    return {"scores.csv": text.getvalue().encode()}


def write_file(output: Path, name: str, content: bytes) -> Path:
    """Writes `output/name` through a hidden temporary file in the same folder, renamed into
    place: the file is whole or absent."""
    output.mkdir(parents=True, exist_ok=True)
    staging = output / f".{name}.tmp-{os.getpid()}"
    try:
        staging.write_bytes(content)
        os.replace(staging, output / name)
    finally:
        staging.unlink(missing_ok=True)
    return output / name


def write_files(files: dict[str, bytes], output: Path) -> None:
    """Writes into a hidden temporary sibling folder, then moves the files in: a failure while
    writing leaves no partial result in `output`. (Not convae_tf.utils.files: this script
    imports nothing of the package, see the module docstring.)"""
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.tmp-{os.getpid()}"
    try:
        staging.mkdir()
        for name, content in files.items():
            (staging / name).write_bytes(content)
        output.mkdir(exist_ok=True)
        for name in files:
            os.replace(staging / name, output / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------- reconstruct photos
class FileErrors(InputError):
    """Some files failed (one line each in `messages`); the others were written (`written`)."""

    def __init__(self, messages: list[str], written: dict):
        super().__init__(messages[0])
        self.messages, self.written = messages, written


def tiling(any_size: bool, min_size: tuple[int, int]) -> dict:
    """run_tiled's tile, overlap and alignment: for a fully convolutional model (`min_size`
    its padding step) tiles of about TILE aligned to that step, overlapping by TILE_OVERLAP;
    for a model of one size (`min_size` that size) tiles of its size overlapping by a quarter."""
    if any_size:
        step = min_size[0]
        tile = max(step, TILE // step * step)
        return {"tile": (tile, tile), "overlap": (TILE_OVERLAP,) * 2, "align": step}
    height, width = min_size
    return {"tile": (height, width), "overlap": (height // 4, width // 4), "align": 1}


class Restorer:
    """A runner's reconstruction (or, task "inpaint", its inpainting of the holes of a mask)
    as a function of one photo (deploy/photos.py): whole, or tile by tile (deploy/tiles.py),
    in the model's channels whatever the photo's."""

    def __init__(self, runner, card: dict, task: str = "reconstruct"):
        if task == "inpaint":
            if TASKS[task] not in runner.signatures:
                raise InputError(
                    f"{runner.path} has no inpaint signature (a TFLite file has one when its "
                    "model was trained to fill holes; older exports lack it): use the "
                    "SavedModel folder, or export the model again"
                )
            shape = runner.input_specs(TASKS[task])[IMAGES]
            self._run = lambda batch, masks: runner.run(TASKS[task], {IMAGES: batch, MASKS: masks})[
                INPAINTED
            ]
        else:
            _, shape = runner.input_spec(TASKS[task])
            self._run = lambda batch: runner(TASKS[task], batch)["reconstruction"]
        self.channels = int(shape[-1])
        self.any_size = shape[0] is None or shape[1] is None
        card_input = card.get("input", {})
        self.fixed_size = None if self.any_size else (int(shape[0]), int(shape[1]))
        if self.any_size:  # the card's min_size of an any-size model: its padding step
            self.min_size = tuple(card_input.get("min_size") or (2, 2))
        elif card_input.get("any_size") and card_input.get("min_size"):
            # A fully convolutional network in a file of one size (TFLite): a photo smaller
            # than that size is mirrored out to it and cropped back (`_padded_to_the_file`).
            self.min_size = tuple(card_input["min_size"])
        else:
            self.min_size = self.fixed_size

    def tiling(self) -> dict:
        """run_tiled's tile, overlap and alignment for this model."""
        return tiling(self.any_size, self.min_size if self.any_size else self.fixed_size)

    def __call__(self, path: Path, photo, mask: np.ndarray | None = None) -> np.ndarray:
        """The restored pixels of `photo` (read from `path`), of its size, channels and type;
        inpainting: where `mask` (bool (H, W, 1)) is True, the others exactly the photo's."""
        height, width, channels = photo.pixels.shape
        if height < self.min_size[0] or width < self.min_size[1]:
            raise InputError(
                f"{path}: {width}x{height} pixels is smaller than the model's smallest size, "
                f"{self.min_size[1]}x{self.min_size[0]} (width x height); predict never resizes"
            )
        fn = photos.adapt(self._run, channels, self.channels)
        to_float = lambda pixels: pixels.astype(np.float32) / photo.scale  # noqa: E731
        masks = () if mask is None else (mask[None].astype(np.float32),)
        if self.any_size and height * width <= WHOLE_IMAGE_PIXELS:
            restored = photos.quantized(photo, fn(to_float(photo.pixels[None]), *masks)[0])
        elif self.fixed_size and (height < self.fixed_size[0] or width < self.fixed_size[1]):
            restored = self._padded_to_the_file(fn, photo, to_float, mask)
        else:
            restored = self._tiled(fn, photo, to_float, mask)
        # The model keeps the known pixels, but in float: they are put back as they were read.
        return restored if mask is None else np.where(mask, restored, photo.pixels)

    def _padded_to_the_file(self, fn, photo, to_float, mask) -> np.ndarray:
        """A photo smaller than the file's fixed size (the network takes smaller ones): mirrored
        out at the bottom and right to that size (its mask with it), restored, cropped back."""
        height, width = photo.pixels.shape[:2]
        pad = [(0, max(0, self.fixed_size[0] - height)), (0, max(0, self.fixed_size[1] - width))]
        pixels = np.pad(photo.pixels, [*pad, (0, 0)], mode="symmetric")
        mask = None if mask is None else np.pad(mask, [*pad, (0, 0)], mode="symmetric")
        padded = photos.Photo(pixels, None, photo.mode)
        return self._tiled(fn, padded, to_float, mask)[:height, :width]

    def _tiled(self, fn, photo, to_float, mask) -> np.ndarray:
        if tiles is None:
            raise InputError("tiles.py must sit beside predict.py to run photos tile by tile")
        restored = np.empty_like(photo.pixels)

        def emit(top, rows):
            restored[top : top + len(rows)] = photos.quantized(photo, rows)

        options = self.tiling() | {"batch": TILES_PER_CALL, "to_float": to_float, "mask": mask}
        tiles.run_tiled(fn, photo.pixels, emit=emit, **options)
        return restored


class ByChannels:
    """Restorers of several models as one: each photo goes to the model of its channel count
    (a gray photo to a gray model, a colour one to a colour model), or, if none has it, to the
    first model, converted to its channels. `--model=A,B` makes one."""

    def __init__(self, restorers: list[Restorer], models: list[Path]):
        self.restorers = {}
        for restorer, model in zip(restorers, models, strict=True):
            if restorer.channels in self.restorers:
                raise InputError(
                    f"--model: two models take {restorer.channels}-channel images ({model} and "
                    "another); give one model per channel count"
                )
            self.restorers[restorer.channels] = restorer
        self.first = restorers[0]

    def __call__(self, path: Path, photo, mask: np.ndarray | None = None) -> np.ndarray:
        channels = photo.pixels.shape[-1]
        return self.restorers.get(channels, self.first)(path, photo, mask)


def restorer_of(models: list[Path], task: str, in_bfloat16: bool = False) -> ByChannels:
    """The restorer of the models given (`--model`, comma-separated) for `task`."""
    restorers = [Restorer(load_runner(m, in_bfloat16), model_card(m), task=task) for m in models]
    return ByChannels(restorers, models)


def photo_files(path: Path) -> list[Path]:
    """The photos to restore: the file `path`, or the PNG/JPEG files of the folder `path` (its
    other files named in a warning line: a .webp or .tif photo left out is not silent)."""
    if path.is_dir():
        entries = sorted(path.iterdir())
        files = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise InputError(f"--input={path}: no {'/'.join(IMAGE_SUFFIXES)} files in the folder")
        others = [
            p.name
            for p in entries
            if p.suffix.lower() not in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        ]
        if others:
            listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            print(
                f"warning: skipped {len(others)} file(s) of {path} that are not "
                f"{'/'.join(IMAGE_SUFFIXES)} ({listed}); convert them to PNG to restore them",
                file=sys.stderr,
            )
        return files
    if not path.is_file():
        raise InputError(f"--input={path}: no such file or folder")
    return [path]


def for_each_file(files: list[Path], work, output: Path) -> dict[str, Path]:
    """`work(path)` → the bytes of the PNG of each file, written to `output` as it comes
    (atomically); a file whose work fails is named (InputError, PhotoError) and the others are
    still written. Raises FileErrors at the end if any failed."""
    names = image_file_names([f.name for f in files])
    written, failed = {}, []
    for path, name in zip(files, names, strict=True):
        try:
            content = work(path)
        except (InputError, photos.PhotoError) as error:
            failed.append(str(error))
            continue
        written[name] = write_file(output, name, content)
    if failed:
        raise FileErrors(failed, written)
    return written


def reconstruct_photos(
    models: list[Path], input_path: Path, output: Path, max_megapixels, in_bfloat16=False
):
    """reconstruct on photo files (see the module docstring); {file name: path written}."""
    if photos is None:
        raise InputError("photos.py must sit beside predict.py to restore photo files")
    restorer = restorer_of(models, "reconstruct", in_bfloat16)

    def restore(path: Path) -> bytes:
        photo = photos.read(path, max_megapixels)
        return photos.png_bytes(photo, restorer(path, photo))

    return for_each_file(photo_files(input_path), restore, output)


def mask_finder(mask_path: Path):
    """path of a photo → the path of its mask: `mask_path` itself if it is a file, else the
    file of the folder `mask_path` named as the photo, or the one file with its stem. An
    InputError names the photo that has none (or several)."""
    if mask_path.is_file():
        return lambda photo: mask_path
    if not mask_path.is_dir():
        raise InputError(f"--mask={mask_path}: no such file or folder")
    by_stem = {}
    for path in sorted(mask_path.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            by_stem.setdefault(path.stem, []).append(path)

    def find(photo: Path) -> Path:
        found = by_stem.get(photo.stem, [])
        if mask_path / photo.name in found:
            return mask_path / photo.name
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(p.name for p in found)
            raise InputError(f"{photo}: several masks for it in {mask_path} ({names}); keep one")
        raise InputError(f"{photo}: no mask for it in {mask_path} (a file {photo.stem}.png)")

    return find


def inpaint_photos(
    models: list[Path], input_path: Path, mask_path: Path, output: Path, mp, in_bfloat16=False
):
    """inpaint on photo files and their masks (see the module docstring); {file name: path
    written}. Photos above `mp` megapixels are refused, as are their masks."""
    if photos is None:
        raise InputError("photos.py must sit beside predict.py to restore photo files")
    restorer = restorer_of(models, "inpaint", in_bfloat16)
    find_mask = mask_finder(mask_path)
    files = photo_files(input_path)

    def inpaint(path: Path) -> bytes:
        photo = photos.read(path, mp)
        height, width = photo.pixels.shape[:2]
        mask = photos.read_mask(find_mask(path), path, (width, height), mp)
        return photos.png_bytes(photo, restorer(path, photo, mask))

    return for_each_file(files, inpaint, output)


def check_mask_flag(task: str, mask: str | None) -> None:
    """--mask goes with --task=inpaint, and inpaint needs it."""
    if task != "inpaint":
        if mask is not None:
            raise InputError(f"--mask is for --task=inpaint only, not --task={task}")
        return
    if mask is None:
        raise InputError("--task=inpaint needs --mask: a mask file, or a folder of one per photo")


def runs_in_bfloat16(precision: str, photo_task: bool) -> bool:
    """Whether SavedModels run in bfloat16 (--precision). "auto": for photos restored (8-bit
    outputs, which bfloat16 changes by a level or so, at about twice the speed) where
    bfloat16.auto() says it pays off (a CPU-only machine with native bfloat16); float32 for
    arrays, codes and scores, whose numbers are compared with the model card's float32
    calibration."""
    if precision not in PRECISIONS:
        raise InputError(f"--precision={precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if not photo_task or bfloat16 is None:
            return False
        with native_info_held_back():  # it may import TensorFlow, whose start-up lines wait
            return bfloat16.auto()
    return precision == "bfloat16"


# ------------------------------------------------------------------------------------- main
def predict(
    model: str,
    task: str,
    input_path: str,
    output: str,
    max_megapixels: float = MAX_MEGAPIXELS,
    mask: str | None = None,
    precision: str = "auto",
) -> dict:
    """Runs `task` and writes its files into `output`; returns them: {name: bytes}, or for
    photo files restored one by one (reconstruct, inpaint with the masks at `mask`), {name:
    path written}. Raises FileErrors if some photos failed (the others written)."""
    if task not in TASKS:
        raise InputError(f"--task={task!r}: choose one of {', '.join(TASKS)}")
    if Path(output).exists() and not Path(output).is_dir():
        raise InputError(f"--output={output} is a file; give a folder (created if missing)")
    models = [Path(m) for m in model.split(",")]
    check_mask_flag(task, mask)
    photo_task = task == "inpaint" or (
        task == "reconstruct" and Path(input_path).suffix.lower() not in (".npz", ".npy")
    )
    if len(models) > 1 and not photo_task:
        raise InputError(
            f"--model={model}: several models (one per channel count) are for reconstruct "
            "and inpaint on photo files; give one model"
        )
    # TFLite files run as exported: no need to ask (and import TensorFlow) for them alone.
    saved_models = any(path.suffix.lower() != ".tflite" for path in models)
    if saved_models:  # before bfloat16.auto() or a runner imports TensorFlow
        with native_info_held_back():
            _import_tensorflow_alone()
    in_bfloat16 = runs_in_bfloat16(precision, photo_task and saved_models)
    if task == "inpaint":
        return inpaint_photos(
            models, Path(input_path), Path(mask), Path(output), max_megapixels, in_bfloat16
        )
    if photo_task:
        return reconstruct_photos(
            models, Path(input_path), Path(output), max_megapixels, in_bfloat16
        )
    runner = load_runner(model, in_bfloat16)
    if task == "score":
        warning = unfit_for_score(Path(model))
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    signature = TASKS[task]
    _, shape = runner.input_spec(signature)
    if task == "decode":
        names, batch = read_codes(Path(input_path), int(shape[0]))
    else:
        names, batch = read_images(Path(input_path), tuple(shape))
    files = render_outputs(task, names, runner(signature, batch))
    write_files(files, Path(output))
    return files


def _define_flags():
    from absl import flags

    flags.DEFINE_string(
        "model",
        None,
        "A SavedModel folder (or its parent) or a .tflite file; reconstruct and inpaint on "
        "photos: several, comma-separated, each photo going to the one of its channel count.",
    )
    flags.DEFINE_enum("task", "reconstruct", list(TASKS), "What to compute.")
    flags.DEFINE_string("input", None, "PNG/JPEG file, folder of them, .npz/.npy (codes: decode).")
    flags.DEFINE_string("output", None, "Output folder (created; files in it are replaced).")
    flags.DEFINE_string(
        "mask",
        None,
        "inpaint: a mask file, or a folder of one per photo (same stem); white = missing.",
    )
    flags.DEFINE_float(
        "max_megapixels",
        MAX_MEGAPIXELS,
        "reconstruct, inpaint: photos above this size are refused (memory and time grow with it).",
        lower_bound=0.0,
    )
    flags.DEFINE_enum(
        "precision",
        "auto",
        list(PRECISIONS),
        "How a SavedModel computes (TFLite files run as exported). bfloat16: convolutions in "
        "bfloat16 (about twice as fast on CPUs with native bfloat16, AVX512_BF16 or AMX); "
        "auto: bfloat16 for photos on such CPUs, float32 otherwise.",
    )
    for name in ("model", "input", "output"):
        flags.mark_flag_as_required(name)
    # --help lists the main module's key flags; under `python -m convae_tf.predict` the main
    # module is the entry module, not this one (convae_tf.cli does the same for the others).
    for name in ("model", "task", "input", "output", "mask", "max_megapixels", "precision"):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
    return flags.FLAGS


def _quiet_unless_verbose(FLAGS) -> None:
    """convae_tf.cli's default, inline: without -v/--verbosity, TensorFlow's C++ logs (a user's
    own TF_CPP_MIN_LOG_LEVEL wins), absl's INFO lines and library warnings stay hidden.
    TensorFlow is imported later, by the SavedModel runner, so its C++ level still applies."""
    if FLAGS["verbosity"].present:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    FLAGS.verbosity = -2  # absl's ERROR; absl keeps a value set before main
    if not sys.warnoptions:  # the user's -W / PYTHONWARNINGS wins
        warnings.simplefilter("ignore")


def _program() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv else "predict"


def _fail(message) -> None:
    print(f"{_program()}: error: {message}", file=sys.stderr)
    sys.exit(USAGE_EXIT_CODE)


def run() -> None:
    """CLI: one-line errors and exit code 2 for bad input (as convae_tf.cli, which this
    stand-alone module does not import)."""
    from absl import app, flags

    FLAGS = _define_flags()

    def parse(argv):
        try:
            remaining = FLAGS(argv)
        except flags.Error as error:
            _fail(f"{error} (see --helpshort)")
        _quiet_unless_verbose(FLAGS)
        return remaining

    def main(argv):
        if len(argv) > 1:
            _fail(f"unexpected arguments {argv[1:]}; every option is a --flag=value")
        try:
            files = predict(
                FLAGS.model,
                FLAGS.task,
                FLAGS.input,
                FLAGS.output,
                FLAGS.max_megapixels,
                FLAGS.mask,
                FLAGS.precision,
            )
        except FileErrors as error:  # each failed file on its line; the others were written
            if error.written:
                print(f"wrote {len(error.written)} file(s) to {FLAGS.output}")
            for message in error.messages[:-1]:
                print(f"{_program()}: error: {message}", file=sys.stderr)
            _fail(error.messages[-1])
        except InputError as error:
            _fail(error)
        except OSError as error:  # a missing, unreadable or unwritable path
            _fail(f"{error.filename}: {error.strerror}; check the path and its permissions")
        print(f"wrote {len(files)} file(s) to {FLAGS.output}")

    app.run(main, flags_parser=parse)


if __name__ == "__main__":
    run()
