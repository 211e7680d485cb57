"""Export a trained workdir for serving (SavedModel) and for the edge (TFLite), with checks.

    python -m convae_tf.export --workdir=runs/ae-sprites
    python -m convae_tf.export --workdir=runs/ae-sprites --out=exported_models/ae --quantize=all

Writes `OUT/<version>/` (next integer after the highest existing one), which holds:

    saved_model.pb, variables/   the SavedModel, TF Serving's layout; signatures serving_default,
                                 encode, decode, score (see convae_tf.deploy.signatures)
    model_<quantization>.tflite  LiteRT builtins only, batch 1, the same four signatures
    model_card.json              shapes, normalisation, size, FLOPs, threshold, parity, files
    config.json                  the training configuration, copied from the workdir

Everything of one export lives in its version folder, so that an export is one atomic rename:
it is written into a hidden sibling (`OUT/.export-tmp-*`, which TF Serving ignores) and renamed
to the version number only when every file is written and every check passed. A failure or an
interruption removes the temporary folder; earlier versions are never touched. TF Serving loads
only the SavedModel files of a version folder and ignores the others.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import time
from pathlib import Path

import keras
import ml_collections
import numpy as np
import tensorflow as tf
from ml_collections.config_dict import placeholder

import convae_tf
from convae_tf import cli, data
from convae_tf.artifacts import run_folder
from convae_tf.deploy import model_card, predict, signatures, tflite
from convae_tf.errors import ConfigError
from convae_tf.utils.files import save_json

# float32 is the exact reference that the parity gate checks; int8 is the file for the edge
# (about a quarter of the size, integer kernels). dynamic and float16 are on request (--quantize):
# both sit between the two, and each conversion adds seconds to every export.
DEFAULT_QUANTIZE = "float32,int8"
PARITY_TOLERANCE = 1e-5
PARITY_IMAGES = 16
CALIBRATION_IMAGES = 200
THRESHOLD_IMAGES = 5000  # validation images scored for the threshold, at most


class ExportError(ConfigError):
    """An export that cannot be made or fails a check; one line, exit 2 from the CLI."""


def stage(message: str) -> None:
    print(f"[convae_tf.export] {message}", flush=True)


# ------------------------------------------------------------------------------------ inputs
class HeldOutData:
    """The training config's data, re-created: validation images (held out from training) for
    parity and the threshold, training images for int8 calibration."""

    def __init__(self, config: dict, image_shape, data_dir: str | None, calibration: int):
        train = config["train"]
        source = data.load_source(
            train["dataset"],
            data_dir=data_dir or train.get("data_dir"),
            image_size=train.get("image_size"),
            seed=train.get("seed", 0),
        )
        if tuple(source.image_shape) != tuple(image_shape):
            raise ExportError(
                f"the data {train['dataset']!r} has images of {source.image_shape} but the model "
                f"was built for {tuple(image_shape)}; check --data_dir and config.json"
            )
        pipes = data.make_pipelines(
            source,
            batch_size=128,
            seed=train.get("seed", 0),
            validation_fraction=train.get("validation_fraction", 0.1),
            normal_classes=train.get("normal_classes"),
            binarize=train.get("binarize", False),
        )
        self.validation = np.concatenate(
            list(pipes.validation.unbatch().take(THRESHOLD_IMAGES).batch(512).as_numpy_iterator())
        )
        self.calibration = np.concatenate(
            list(pipes.train.unbatch().take(calibration).batch(512).as_numpy_iterator())
        )
        self.parity = self.validation[:PARITY_IMAGES]


# ----------------------------------------------------------------------------------- writing
def next_version(out: Path) -> int:
    versions = [int(p.name) for p in out.iterdir() if p.name.isdigit()] if out.is_dir() else []
    return max(versions, default=0) + 1


def publish(staging: Path, out: Path) -> Path:
    """Renames the finished `staging` folder to the next free version number (atomic).

    A folder rename, not `utils.files.atomic_path` (one file, replaced in place): the files
    inside `staging` need no atomic writes of their own, and os.rename fails rather than
    replace a (non-empty) version folder that a concurrent export has just published."""
    while True:
        target = out / str(next_version(out))
        try:
            os.rename(staging, target)
            return target
        except OSError:
            if not target.exists():
                raise
            # A concurrent export took this number between the scan and the rename: next one.


def representative_data(model: keras.Model, images: np.ndarray):
    """The int8 calibrator's samples: (signature, {input: batch-1 array}) for every signature;
    the decoder is calibrated on the codes of the same images."""
    codes = np.asarray(model.code(images), np.float32)

    def samples():
        for image, code in zip(images, codes, strict=True):
            for signature in (signatures.RECONSTRUCT, signatures.ENCODE, signatures.SCORE):
                yield signature, {signatures.IMAGES: image[None]}
            if model.decodes_codes:
                yield signatures.DECODE, {signatures.CODE: code[None]}

    return samples


def write_tflite_files(
    model: keras.Model, staging: Path, quantizations, calibration: np.ndarray
) -> dict:
    """model_<quantization>.tflite per quantization, from a batch-1 SavedModel (see
    convae_tf.tflite for why batch 1) written to a scratch folder outside `staging`."""
    files = {}
    with tempfile.TemporaryDirectory(prefix="convae_tflite_") as scratch:
        source = Path(scratch) / "batch1"
        signatures.write_saved_model(model, source, batch_size=1)
        for quantization in quantizations:
            started = time.time()
            flatbuffer = tflite.convert(
                source,
                signatures.names(model),
                quantization,
                representative_data(model, calibration) if quantization == "int8" else None,
            )
            path = staging / f"model_{quantization}.tflite"
            path.write_bytes(flatbuffer)
            files[quantization] = path
            stage(
                f"tflite {quantization}: {len(flatbuffer):,} bytes in {time.time() - started:.1f} s"
            )
    return files


def check_deterministic(version_dir: Path) -> None:
    loaded = tf.saved_model.load(str(version_dir))
    for name in loaded.signatures:
        found = signatures.random_ops(loaded.signatures[name])
        if found:
            raise ExportError(
                f"signature {name!r} contains random ops {sorted(found)}; inference must be "
                "deterministic (sample only when training=True)"
            )


# -------------------------------------------------------------------------------------- main
def export(
    workdir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    quantize: str = DEFAULT_QUANTIZE,
    data_dir: str | None = None,
    calibration_images: int = CALIBRATION_IMAGES,
) -> Path:
    """Exports the run in `workdir` to `out/<version>/`; returns that folder."""
    started = time.time()
    workdir = Path(workdir)
    quantizations = tflite.parse_quantizations(quantize)
    if calibration_images < 1:
        raise ExportError(f"--calibration_images={calibration_images} must be at least 1")
    out = Path(out) if out else Path("exported_models") / workdir.resolve().name
    run = run_folder.load_run(workdir)
    with data.named_file_errors():  # a corrupt image file met while streaming: one line
        return _export(run, out, quantizations, data_dir, calibration_images, started)


def _export(run, out: Path, quantizations, data_dir, calibration_images, started) -> Path:
    model, config, workdir = run.model, run.config, run.workdir
    stage(f"model: {type(model).__name__} {model.image_shape}, {model.count_params():,} params")
    held_out = HeldOutData(config, model.image_shape, data_dir, calibration_images)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-tmp-", dir=out))
    try:
        # mkdtemp makes it private (0700); TF Serving often runs as another user (docker).
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        signatures.write_saved_model(model, staging)
        check_deterministic(staging)
        tflite_files = write_tflite_files(model, staging, quantizations, held_out.calibration)
        parity = check_parity(model, staging, tflite_files, held_out.parity)
        shutil.copy2(workdir / "config.json", staging / "config.json")
        card = build_card(model, config, workdir, staging, tflite_files, parity, held_out)
        card["export_seconds"] = round(time.time() - started, 1)
        save_json(card, staging / "model_card.json")
        version_dir = publish(staging, out)
    except BaseException:  # failures and interrupts alike: no half-written version remains
        shutil.rmtree(staging, ignore_errors=True)
        raise
    stage(f"done in {time.time() - started:.1f} s: {version_dir}")
    return version_dir


def check_parity(model, saved_model_dir: Path, tflite_files: dict, images: np.ndarray) -> dict:
    """Parity of every export against Keras; the float32 ones must be within tolerance."""
    codes = np.asarray(model.code(images))
    reference = model_card.keras_reference(model, images, codes)
    runners = {"saved_model": predict.SavedModelRunner(saved_model_dir)}
    runners |= {q: predict.TFLiteRunner(path) for q, path in tflite_files.items()}
    reports = {}
    for name, runner in runners.items():
        reports[name] = model_card.parity(runner, reference, images, codes)
        worst = max(reports[name]["max_abs_diff"].values())
        stage(
            f"parity {name}: max |diff| {worst:.2e}, "
            f"PSNR change {reports[name]['psnr_change_db']:+.3f} dB"
        )
        if name in ("saved_model", "float32"):
            bad = model_card.parity_violations(reports[name], reference, PARITY_TOLERANCE)
            if bad:
                raise ExportError(f"{name} export does not match the Keras model: {bad[0]}")
    return reports


def build_card(model, config, workdir, staging, tflite_files, parity, held_out) -> dict:
    height, width, channels = model.image_shape
    images = held_out.validation
    scores = np.concatenate(
        [np.asarray(model.score(images[i : i + 256])) for i in range(0, len(images), 256)]
    )
    files = {"saved_model": {"path": ".", "bytes": model_card.folder_bytes(staging)}}
    files["saved_model"]["bytes"] -= sum(p.stat().st_size for p in tflite_files.values())
    for quantization, path in tflite_files.items():
        files[quantization] = {
            "path": path.name,
            "bytes": path.stat().st_size,
            "quantization": tflite.DESCRIPTIONS[quantization],
            "batch_size": 1,
            "input_output_dtype": "float32",
            "signatures": list(signatures.names(model)),
        }
    return {
        "model": {
            "name": config["train"]["model"],
            "class": type(model).__name__,
            "config": config.get("model_config", {}),
            "workdir": str(workdir),
        },
        "input": {
            "shape": [None, height, width, channels],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "normalisation": "uint8 pixels / 255; no mean or std; images are never resized",
        },
        "latent_dim": int(model.latent_dim),
        "signatures": model_card.signature_shapes(model),
        "parameters": int(model.count_params()),
        "flops_per_image": {
            "reconstruct": model_card.flops_per_image(model, signatures.RECONSTRUCT),
            "encode": model_card.flops_per_image(model, signatures.ENCODE),
            "method": model_card.FLOPS_METHOD,
        },
        "anomaly_threshold": model_card.anomaly_threshold(scores)
        | {"score": f"{model.reconstruction_loss} reconstruction error ({type(model).__name__})"},
        "parity": {
            "images": int(len(held_out.parity)),
            "split": "validation",
            "tolerance": PARITY_TOLERANCE,
            "enforced_on": ["saved_model", "float32"],
            "rule": model_card.PARITY_RULE,
            "exports": parity,
        },
        "files": files,
        "versions": {
            "convae_tf": convae_tf.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


# The export's options: name: (default, help); the flags of the CLI are made from it.
FIELDS: cli.Fields = {
    "out": (placeholder(str), "Export folder (default: exported_models/<workdir name>)."),
    "quantize": (
        DEFAULT_QUANTIZE,
        f"TFLite files: 'all', 'none' or a comma list of {','.join(tflite.QUANTIZATIONS)}.",
    ),
    "data_dir": (placeholder(str), "Override config.json's data_dir (moved TFDS data)."),
    "calibration_images": (CALIBRATION_IMAGES, "Training images for int8 calibration."),
}


def get_config() -> ml_collections.ConfigDict:
    """The export defaults, a new ConfigDict on every call (the arguments of `export`)."""
    return cli.config_from_fields(FIELDS)
