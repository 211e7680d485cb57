"""Export a trained workdir for serving (SavedModel) and for the edge (TFLite), with checks.

    python -m convae_tf.export --workdir=runs/ae-sprites
    python -m convae_tf.export --workdir=runs/ae-sprites --out=exported_models/ae --quantize=all

Writes `OUT/<version>/` (next integer after the highest existing one), which holds:

    saved_model.pb, variables/   the SavedModel, TF Serving's layout; signatures serving_default,
                                 encode, decode, score, inpaint (convae_tf.deploy.signatures)
    model_<quantization>.tflite  LiteRT builtins only, batch 1, the same signatures (inpaint
                                 for a model trained to fill holes)
    model_card.json              shapes, normalisation, size, FLOPs, threshold, parity, the
                                 score checked for its use (score_use), files and their fit_for
    config.json                  the training configuration, copied from the workdir
    keras_weights.json           which SavedModel variable is which Keras weight, so that
                                 `train --init_from=OUT` fine-tunes the export
                                 (convae_tf.artifacts.exported_weights)

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
from convae_tf.artifacts import exported_weights, run_folder
from convae_tf.deploy import model_card, predict, score_use, signatures, tflite, tolerance
from convae_tf.errors import ConfigError
from convae_tf.models import anomaly
from convae_tf.utils.files import save_json

# float32 is the exact reference that the parity gate checks; int8 is the file for the edge
# (about a quarter of the size, integer kernels). dynamic and float16 are on request (--quantize):
# both sit between the two, and each conversion adds seconds to every export.
DEFAULT_QUANTIZE = "float32,int8"
PARITY_IMAGES = 16
ENFORCED = ("saved_model", "float32")  # the exports held to the parity gate
CALIBRATION_IMAGES = 200
THRESHOLD_IMAGES = 5000  # calibration images scored for the threshold, and test images, at most


class ExportError(ConfigError):
    """An export that cannot be made or fails a check; one line, exit 2 from the CLI."""


def stage(message: str) -> None:
    print(f"[convae_tf.export] {message}", flush=True)


# ------------------------------------------------------------------------------------ inputs
class HeldOutData:
    """The training config's data, re-created: validation images (held out from training) for
    parity, those of them the anomaly score was not fitted on for its threshold, normal test
    images for the false positive rate it reaches, training images for int8 calibration, and
    the first test images (with their labels, if the data has labels) to check each export's
    score for its use. A run trained on crops (--crop) gets crops throughout: the fixed
    validation and test crops that training measured, and a train pass's crops."""

    def __init__(self, config: dict, image_shape, data_dir: str | None, calibration: int):
        train = config["train"]
        options = data.PipelineOptions.of_run(train)
        source = data.load_source(
            train["dataset"],
            data_dir=data_dir or train.get("data_dir"),
            image_size=train.get("image_size"),
            seed=train.get("seed", 0),
            crop=options.crop,
            channels=train.get("channels"),
        )
        shape = data.split_shape(source, options.crop)
        if tuple(shape) != tuple(image_shape):
            what = "images" if options.crop is None else "crops"
            raise ExportError(
                f"the data {train['dataset']!r} has {what} of {shape} but the model was built "
                f"for {tuple(image_shape)}; check --data_dir and config.json"
            )
        pipes = data.make_pipelines(
            source,
            batch_size=128,
            seed=train.get("seed", 0),
            validation_fraction=train.get("validation_fraction", 0.1),
            normal_classes=train.get("normal_classes"),
            binarize=train.get("binarize", False),
            crop=options.crop,
            crops_per_image=options.crops_per_image,
        )
        self.parity = first_images(pipes.validation, PARITY_IMAGES)
        self.calibration = first_images(pipes.train, calibration)
        self.normal_classes = train.get("normal_classes")
        self.test = first_images(pipes.test, score_use.IMAGES)
        self.test_labels = None
        if source.has_labels:  # each image's label, once per crop of it
            images = -(-len(self.test) // pipes.crops_per_image)
            labels = source.test.map(lambda example: example["label"]).take(images)
            labels = np.fromiter(labels.as_numpy_iterator(), np.int64)
            self.test_labels = np.repeat(labels, pipes.crops_per_image)[: len(self.test)]
        self.parts = anomaly.HeldOutParts(pipes.num_validation, pipes.crops_per_image)
        threshold = self.parts.calibration(pipes.validation.unbatch()).take(THRESHOLD_IMAGES)
        self.threshold = np.concatenate(list(threshold.batch(512).as_numpy_iterator()))
        self.test_normal = normal_test_images(source, train).take(THRESHOLD_IMAGES)


def first_images(batches: tf.data.Dataset, count: int) -> np.ndarray:
    """The first `count` images of a batched split, as one array."""
    images = batches.unbatch().take(count).batch(512).as_numpy_iterator()
    return np.concatenate(list(images))


def normal_test_images(source: data.Source, train: dict) -> tf.data.Dataset:
    """The test split's normal images, one by one in its fixed order (cropped and binarised as
    training measured them): those of the normal classes, or every one when the run had none."""
    examples = data.fixed_split(source.test, "test", data.PipelineOptions.of_run(train))
    normal = train.get("normal_classes")
    if normal is not None:
        keep = tf.constant(normal, tf.int64)
        examples = examples.filter(lambda ex: tf.reduce_any(tf.equal(ex["label"], keep)))
    return examples.map(lambda ex: ex["image"])


def scores_of(model: keras.Model, images: tf.data.Dataset) -> np.ndarray:
    """The model's score of every image of `images`, streamed in batches."""
    batches = images.batch(256).as_numpy_iterator()
    return np.concatenate([np.zeros(0, np.float32), *(np.asarray(model.score(b)) for b in batches)])


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


def reconstruct_inputs(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """What the reconstruct signature sees in use: for a denoiser, its training corruption of
    `images` (fixed by their content, as validation draws it); the images themselves for the
    others and for inpainters, whose holes the reconstruct signature is not told about."""
    if model.extra_input_channels:
        return images
    return np.asarray(model.fixed_corrupt(images), np.float32)


def representative_data(model: keras.Model, images: np.ndarray):
    """The int8 calibrator's samples: (signature, {input: batch-1 array}) for every signature.
    The reconstruct signature is calibrated on the inputs it meets in use (reconstruct_inputs):
    calibrated on clean images only, a residual denoiser's activations and correction span a
    fraction of what strong noise drives them to, and int8 clips them (it shows on smooth
    photos at high σ). Encode and score take the clean images, the decoder their codes, and
    inpaint (a model trained to fill holes) the images with the holes training cuts."""
    codes = np.asarray(model.code(images), np.float32)
    noisy = reconstruct_inputs(model, images)
    holes = np.asarray(model.training_holes(images), np.float32) if model.fills_holes else None

    def samples():
        for i, (image, noisy_image, code) in enumerate(zip(images, noisy, codes, strict=True)):
            yield signatures.RECONSTRUCT, {signatures.IMAGES: noisy_image[None]}
            for signature in (signatures.ENCODE, signatures.SCORE):
                yield signature, {signatures.IMAGES: image[None]}
            if model.decodes_codes:
                yield signatures.DECODE, {signatures.CODE: code[None]}
            if holes is not None:
                inputs = {signatures.IMAGES: image[None], signatures.MASKS: holes[i : i + 1]}
                yield signatures.INPAINT, inputs

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
                signatures.tflite_names(model),
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
        exported_weights.write_index(model, staging)
        check_deterministic(staging)
        tflite_files = write_tflite_files(model, staging, quantizations, held_out.calibration)
        runners = export_runners(staging, tflite_files)
        checks = {
            "parity": check_parity(model, runners, held_out.parity),
            "threshold": check_threshold(model, runners["saved_model"], held_out),
            "score_use": check_score_use(model, runners, held_out),
        }
        shutil.copy2(workdir / "config.json", staging / "config.json")
        card = build_card(model, config, workdir, staging, tflite_files, checks, held_out)
        card["export_seconds"] = round(time.time() - started, 1)
        save_json(card, staging / "model_card.json")
        version_dir = publish(staging, out)
    except BaseException:  # failures and interrupts alike: no half-written version remains
        shutil.rmtree(staging, ignore_errors=True)
        raise
    stage(f"done in {time.time() - started:.1f} s: {version_dir}")
    return version_dir


def export_runners(staging: Path, tflite_files: dict) -> dict:
    """name → a `convae_tf.predict` runner of each export: parity and the score checks go
    through the code path users run."""
    runners = {"saved_model": predict.SavedModelRunner(staging)}
    return runners | {q: predict.TFLiteRunner(path) for q, path in tflite_files.items()}


def check_parity(model, runners: dict, images: np.ndarray) -> dict:
    """Parity of every export against Keras, each output within its tolerance
    (deploy/tolerance.py); the float32 exports (ENFORCED) must be."""
    codes = np.asarray(model.code(images))
    inputs = model_card.parity_inputs(model, images, codes)
    reference = model_card.keras_reference(model, inputs)
    tolerances = tolerance.output_tolerances(model, reference, images, codes)
    reports = {}
    for name, runner in runners.items():
        report = model_card.parity(runner, reference, inputs, tolerances)
        reports[name] = report
        share = max(report["diff_over_allowed"].values(), default=float("nan"))
        stage(
            f"parity {name}: max |diff| {max(report['max_abs_diff'].values()):.2e}, "
            f"{share:.2g} of its tolerance at worst, PSNR change {report['psnr_change_db']:+.3f} dB"
        )
        if name in ENFORCED:
            bad = model_card.parity_violations(report)
            if bad:
                raise ExportError(f"{name} export does not match the Keras model: {bad[0]}")
    return {"exports": reports, "parity_rule": tolerance.output_rules(model, reference)}


def check_threshold(model, runner, held_out: HeldOutData) -> dict:
    """The card's threshold from Keras's scores of the threshold images (the validation images
    the score was not fitted on), after checking that the served score gives the same
    threshold: a percentile moves by at most the largest per-image difference, so by at most
    the largest score tolerance. With the false positive rate it reaches on normal test images."""
    images = held_out.threshold
    scores, tolerances = keras_scores(model, images)
    threshold = model_card.anomaly_threshold(scores)
    served = np.percentile(runner(signatures.SCORE, images)["score"], threshold["percentile"])
    allowed = float(np.max(tolerances))
    if not abs(served - threshold["value"]) <= allowed:
        raise ExportError(
            f"the model card's anomaly threshold {threshold['value']:.6g} is not the "
            f"{threshold['percentile']}th percentile of the exported score on the same "
            f"{len(images)} validation images ({served:.6g}, > {allowed:.3g} apart)"
        )
    return threshold | reached_on_test(model, held_out, threshold)


def reached_on_test(model, held_out: HeldOutData, threshold: dict) -> dict:
    """The false positive rate that `threshold` reaches on normal test images, beside the one
    asked for, and where its images came from; said in one line."""
    test_scores = scores_of(model, held_out.test_normal)
    reached = model_card.threshold_calibration(threshold["value"], test_scores, held_out.parts)
    calibrated = "the fit images: too few to split" if held_out.parts.shared else "not fitted on"
    rate = "no normal test images to check it on"
    if reached["test_fpr"] is not None:
        rate = f"flags {reached['test_fpr']:.2%} of {reached['test_images']} normal test images"
    stage(
        f"anomaly threshold: {threshold['percentile']}th percentile of {threshold['num_images']} "
        f"validation images ({calibrated}); {rate} (asked {reached['asked_fpr']:.2%})"
    )
    return reached


def keras_scores(model, images: np.ndarray, batch_size: int = 256):
    """(Keras's score of each image, its parity tolerance), computed in batches."""
    scores, tolerances = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        codes = np.asarray(model.code(batch))
        reference = {
            signatures.RECONSTRUCT: {"reconstruction": np.asarray(model(batch))},
            signatures.SCORE: {"score": np.asarray(model.score(batch))},
        }
        scores.append(reference[signatures.SCORE]["score"])
        tolerances.append(
            tolerance.output_tolerances(model, reference, batch, codes)[tolerance.SCORE_OUTPUT]
        )
    return np.concatenate(scores), np.concatenate(tolerances)


def check_score_use(model, runners: dict, held_out: HeldOutData) -> dict:
    """Each export's score ranked against Keras's, and its AUROC in a one-class run
    (deploy/score_use.py); one line per export, and one for a file that loses the score."""
    anomalous = score_use.anomalous_labels(held_out.test_labels, held_out.normal_classes)
    use = score_use.measure(model, runners, held_out.test, anomalous)
    keras_auroc = use["keras"].get("auroc")
    for name, checked in use["exports"].items():
        auroc = (
            ""
            if keras_auroc is None
            else f", AUROC {checked['auroc']:.4f} (Keras {keras_auroc:.4f})"
        )
        spearman = checked["spearman"]
        spearman = "undefined (constant scores)" if spearman is None else f"{spearman:.4f}"
        stage(f"score {name}: Spearman {spearman} with Keras{auroc}")
    reference = score_use.reference_auroc(use)
    for name, uses in score_use.fit_for(use).items():
        if "score" not in uses:
            stage(
                f"{name}: fit for reconstruction only, not for the anomaly score: its AUROC "
                f"{use['exports'][name]['auroc']:.4f} is more than {score_use.AUROC_DROP} below "
                f"float32's {reference:.4f} (model card: files.{name}.fit_for)"
            )
    return use


def build_card(model, config, workdir, staging, tflite_files, checks, held_out) -> dict:
    uses = score_use.fit_for(checks["score_use"])
    height, width, channels = model.image_shape
    files = {
        "saved_model": {
            "path": ".",
            "bytes": model_card.folder_bytes(staging),
            "fit_for": uses["saved_model"],
        }
    }
    files["saved_model"]["bytes"] -= sum(p.stat().st_size for p in tflite_files.values())
    for quantization, path in tflite_files.items():
        files[quantization] = {
            "path": path.name,
            "bytes": path.stat().st_size,
            "quantization": tflite.DESCRIPTIONS[quantization],
            "batch_size": 1,
            "input_output_dtype": "float32",
            "signatures": list(signatures.tflite_names(model)),
            "fit_for": uses[quantization],
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
            **input_sizes(model),
        },
        "latent_dim": int(model.latent_dim),
        "signatures": model_card.signature_shapes(model),
        "parameters": int(model.count_params()),
        "flops_per_image": {
            "reconstruct": model_card.flops_per_image(model, signatures.RECONSTRUCT),
            "encode": model_card.flops_per_image(model, signatures.ENCODE),
            "method": model_card.FLOPS_METHOD,
        },
        "anomaly_threshold": checks["threshold"]
        | {"score": f"{model.reconstruction_loss} reconstruction error ({type(model).__name__})"},
        "parity": {
            "images": int(len(held_out.parity)),
            "split": "validation",
            "tolerance": tolerance.BASE,
            "enforced_on": list(ENFORCED),
            "rule": model_card.PARITY_RULE,
            **checks["parity"],
        },
        "score_use": checks["score_use"],
        "files": files,
        "versions": {
            "convae_tf": convae_tf.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def input_sizes(model) -> dict:
    """The card's account of the sizes each file takes, and the smallest image that predict
    accepts (a fully convolutional model: one step of its padding; else the model's size,
    which predict tiles larger images with)."""
    height, width, _ = model.image_shape
    if model.fully_convolutional:
        step = 2**model.depth
        return {
            "any_size": True,
            "min_size": [step, step],
            "sizes": (
                "the SavedModel's serving_default takes any H×W (padded inside to a multiple "
                f"of {step}, cropped back); encode, decode and score take {height}×{width} "
                "(the code's size, and the fitted score's statistics, depend on H×W); TFLite "
                f"files take {height}×{width} and predict runs larger images tile by tile"
            ),
        }
    return {
        "any_size": False,
        "min_size": [height, width],
        "sizes": (
            f"every file takes {height}×{width} (a dense code ties the weights to it); predict "
            "runs larger images tile by tile for reconstruct"
        ),
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
