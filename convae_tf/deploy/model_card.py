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
IMAGE_OUTPUTS = ("reconstruction", "images")  # outputs in [0, 1]; the parity gate is absolute
PARITY_RULE = (
    "max |export - Keras| on held-out images; images (reconstruction, decode) must be within "
    "the tolerance absolutely, codes and scores (unbounded) within tolerance * max(1, max |Keras|)"
)
FLOPS_METHOD = (
    "tf.compat.v1.profiler float_operation on the frozen batch-1 graph of the signature: "
    "2 FLOPs per multiply-add (Conv2D, MatMul) plus element-wise ops"
)
THRESHOLD_METHOD = (
    f"{THRESHOLD_PERCENTILE}th percentile of the score signature on the validation split "
    "(held out from training, normal classes only): about 1% false alarms on normal data"
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


def keras_reference(
    model: keras.Model, images: np.ndarray, codes: np.ndarray
) -> dict[str, dict[str, np.ndarray]]:
    """Every signature's outputs computed by the Keras model itself: the parity reference.
    The decoder gets `codes`, the images' codes (`model.code(images)`)."""
    fns = signatures.endpoints(model)
    inputs = {signatures.DECODE: codes}
    return {
        name: {k: np.asarray(v) for k, v in fns[name](inputs.get(name, images)).items()}
        for name in signatures.names(model)
    }


def parity(runner, reference: dict, images: np.ndarray, codes: np.ndarray) -> dict:
    """Max |export − Keras| per signature output, and the reconstruction PSNR, of `runner`
    (a `convae_tf.predict` runner: parity goes through the code path users run), on the inputs
    of `keras_reference`."""
    diffs = {}
    for signature in runner.signatures:
        if signature not in reference:
            continue
        given = codes if signature == signatures.DECODE else images
        outputs = runner(signature, given)
        for key, expected in reference[signature].items():
            diffs[f"{signature}/{key}"] = float(np.max(np.abs(outputs[key] - expected)))
            if signature == signatures.RECONSTRUCT:
                reconstruction_psnr = mean_psnr(images, outputs[key])
    keras_psnr = mean_psnr(images, reference[signatures.RECONSTRUCT]["reconstruction"])
    return {
        "max_abs_diff": diffs,
        "reconstruction_psnr_db": reconstruction_psnr,
        "psnr_change_db": reconstruction_psnr - keras_psnr,
    }


def parity_violations(report: dict, reference: dict, tolerance: float) -> list[str]:
    """Outputs beyond `tolerance`. Images (in [0, 1]) are compared absolutely. Codes and scores
    are unbounded (a VAE score is hundreds of nats, a trained code reaches tens), and float32
    rounding alone in a different summation order (XNNPACK) moves them by more than 1e-5, so
    they are compared relative to their magnitude: |diff| ≤ tolerance · max(1, max |Keras|)."""
    bad = []
    for name, diff in report["max_abs_diff"].items():
        signature, key = name.split("/")
        scale = max(1.0, float(np.max(np.abs(reference[signature][key]))))
        allowed = tolerance * (1.0 if key in IMAGE_OUTPUTS else scale)
        if not diff <= allowed:  # NaN fails too
            bad.append(f"{name} differs by {diff:.3g} (> {allowed:.3g})")
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
