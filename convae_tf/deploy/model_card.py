"""The measurements written to `model_card.json`: FLOPs, anomaly threshold, parity, sizes."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from convae_tf.deploy import signatures
from convae_tf.utils import image_quality

THRESHOLD_PERCENTILE = 99
PARITY_RULE = (
    "max |export - Keras| per output on held-out images, each within its own tolerance "
    "(parity_rule per output); enforced on the float32 exports"
)
FLOPS_METHOD = (
    "tf.compat.v1.profiler float_operation on the frozen batch-1 graph of the signature: "
    "2 FLOPs per multiply-add (Conv2D, MatMul) plus element-wise ops"
)
THRESHOLD_METHOD = (
    f"{THRESHOLD_PERCENTILE}th percentile of the score signature on the validation images "
    "(held out from training, normal classes only) that the score's statistics were not "
    "fitted on (see calibration): asked_fpr false alarms on normal data; test_fpr is the rate "
    "reached on the test split's normal images (score > value)"
)


def flops_per_image(model: keras.Model, signature: str) -> int:
    """FLOPs of one image through `signature` (see FLOPS_METHOD)."""
    spec = signatures.input_specs(model, batch_size=1)[signature]
    return graph_flops(signatures.endpoints(model)[signature], spec)


def graph_flops(fn, spec: tf.TensorSpec) -> int:
    """FLOPs of `fn` on one input of `spec`, counted on its frozen graph (see FLOPS_METHOD);
    experiments/benchmark.py counts the keras.io reference models with it too."""
    frozen = convert_variables_to_constants_v2(tf.function(fn).get_concrete_function(spec))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"  # the profiler prints a table to stdout otherwise
    profile = tf.compat.v1.profiler.profile(
        graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    return int(profile.total_float_ops)


def mean_psnr(images: np.ndarray, reconstructions: np.ndarray) -> float:
    """Mean over images of the PSNR in dB, the same measure as metrics.json's."""
    return float(np.mean(image_quality.per_image_psnr(reconstructions, images)))


def anomaly_threshold(scores: np.ndarray) -> dict:
    return {
        "value": float(np.percentile(scores, THRESHOLD_PERCENTILE)),
        "percentile": THRESHOLD_PERCENTILE,
        "p95": float(np.percentile(scores, 95)),
        "p99": float(np.percentile(scores, 99)),
        "max": float(np.max(scores)),
        "num_images": int(len(scores)),
        "method": THRESHOLD_METHOD,
    }


def threshold_calibration(value: float, test_scores: np.ndarray, parts) -> dict:
    """Where the threshold's images came from (`parts`: the anomaly.HeldOutParts the validation
    split was divided by), and the false positive rate that the threshold `value` reaches on
    normal test images (`test_scores`; null without any) beside the one asked for."""
    return {
        "calibration": parts.calibration_method(),
        "fit_images": len(parts.fit_indices()),
        "asked_fpr": round(1.0 - THRESHOLD_PERCENTILE / 100.0, 6),
        "test_fpr": float(np.mean(test_scores > value)) if len(test_scores) else None,
        "test_images": int(len(test_scores)),
    }


def parity_inputs(model: keras.Model, images: np.ndarray, codes: np.ndarray) -> dict:
    """{signature: {input name: array}} of every signature that parity checks (the TFLite
    files': `signatures.tflite_names`): the images; the decoder their `codes`; inpaint the
    images and the holes that training would cut in them (`model.training_holes`)."""
    inputs = {name: {signatures.IMAGES: images} for name in signatures.tflite_names(model)}
    if signatures.DECODE in inputs:
        inputs[signatures.DECODE] = {signatures.CODE: codes}
    if signatures.INPAINT in inputs:
        masks = np.asarray(model.training_holes(images), np.float32)
        inputs[signatures.INPAINT][signatures.MASKS] = masks
    return inputs


def keras_reference(model: keras.Model, inputs: dict) -> dict[str, dict[str, np.ndarray]]:
    """Every signature's outputs computed by the Keras model itself on its `inputs`
    (`parity_inputs`): the parity reference."""
    fns = signatures.endpoints(model)
    return {
        name: {k: np.asarray(v) for k, v in fns[name](**given).items()}
        for name, given in inputs.items()
    }


def parity(runner, reference: dict, inputs: dict, tolerances: dict) -> dict:
    """|export − Keras| per signature output of `runner` (a `convae_tf.predict` runner: parity
    goes through the code path users run) on the `inputs` of `keras_reference`, against each
    output's per-image `tolerances` (deploy/tolerance.py); and the reconstruction PSNR.

    Per output: the largest difference, and at the image where the difference is the largest
    share of its tolerance, that share and the tolerance ("allowed"). An output that the
    export lacks or gives in another shape is listed under "mismatched"."""
    report = {"max_abs_diff": {}, "allowed": {}, "diff_over_allowed": {}, "mismatched": []}
    for signature in runner.signatures:
        if signature not in reference:
            continue
        outputs = runner.run(signature, inputs[signature])
        for key, expected in reference[signature].items():
            name = f"{signature}/{key}"
            given = outputs.get(key)
            if given is None or np.shape(given) != np.shape(expected):
                shape = "no such output" if given is None else f"shape {np.shape(given)}"
                report["mismatched"].append(f"{name}: {shape}, Keras {np.shape(expected)}")
                continue
            per_image = np.abs(given - expected).reshape(len(expected), -1).max(axis=-1)
            ratio = per_image / tolerances[name]
            worst = int(np.argmax(np.nan_to_num(ratio, nan=np.inf)))
            report["max_abs_diff"][name] = float(np.max(per_image))
            report["allowed"][name] = float(tolerances[name][worst])
            report["diff_over_allowed"][name] = float(ratio[worst])
    images = inputs[signatures.RECONSTRUCT][signatures.IMAGES]
    reconstruction = runner(signatures.RECONSTRUCT, images)["reconstruction"]
    keras_psnr = mean_psnr(images, reference[signatures.RECONSTRUCT]["reconstruction"])
    report["reconstruction_psnr_db"] = mean_psnr(images, reconstruction)
    report["psnr_change_db"] = report["reconstruction_psnr_db"] - keras_psnr
    return report


def parity_violations(report: dict) -> list[str]:
    """One line per output of `report` (from `parity`) beyond its tolerance, NaN included, or
    missing from the export."""
    bad = list(report["mismatched"])
    for name, ratio in report["diff_over_allowed"].items():
        if not ratio <= 1.0:  # NaN fails too
            allowed = report["allowed"][name]
            bad.append(
                f"{name} differs by {ratio * allowed:.3g} (> {allowed:.3g} allowed there, "
                "see the model card's parity_rule)"
            )
    return bad


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def signature_shapes(model: keras.Model) -> dict:
    """{signature: {"inputs": {name: shape}, "outputs": {name: shape}}}, batch as null."""
    fns, specs = signatures.endpoints(model), signatures.input_specs(model, batch_size=None)
    shapes = {}
    for name in signatures.names(model):
        spec = specs[name]
        outputs = tf.function(fns[name]).get_concrete_function(spec).structured_outputs
        shapes[name] = {
            "inputs": {spec.name: list(spec.shape)},
            "outputs": {k: list(v.shape) for k, v in outputs.items()},
        }
    return shapes
