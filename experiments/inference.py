"""One model's inference engines for latency timing, and its FLOPs per reconstructed image.

Engines: the Keras model (`predict_on_batch`), the SavedModel `serving_default` signature and
the TFLite float32 and int8 files, the last three through `convae_tf.predict`'s runners (the
code path users of the exports run). Every engine runs the float32 model, as exported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from convae_tf.deploy import model_card, predict, signatures, tflite
from experiments import ours, references

TFLITE_QUANTIZATIONS = ("float32", "int8")
CALIBRATION_IMAGES = 100


def reconstruct_endpoint(model, name: str):
    """images → {"reconstruction"}: our `serving_default` signature, or the reference's."""
    if name in references.REFERENCES:
        return references.reconstruct(model)
    return signatures.endpoints(model)[signatures.RECONSTRUCT]


def reconstruct_flops(model, name: str, image_shape) -> int:
    """Forward FLOPs of reconstructing one image (convae_tf's model-card counter)."""
    spec = tf.TensorSpec((1, *image_shape), tf.float32)
    return model_card.graph_flops(reconstruct_endpoint(model, name), spec)


def write_saved_model(model, name: str, path: Path, batch_size: int | None, image_shape):
    """The `serving_default` signature only, for ours and the references alike."""
    if name in references.REFERENCES:
        references.write_saved_model(model, path, batch_size, image_shape)
    else:
        signatures.write_saved_model(
            model, path, batch_size=batch_size, only=(signatures.RECONSTRUCT,)
        )


def engines(model, name: str, images: np.ndarray, scratch: Path) -> dict[str, Callable]:
    """{engine: fn(batch) → reconstruction} for "keras", "saved_model", "tflite_float32" and
    "tflite_int8"; `images` calibrate the int8 file, `scratch` holds the exports."""
    if name not in references.REFERENCES:
        model = ours.float32_copy(model)
    image_shape = images.shape[1:]
    runs = {"keras": lambda x: np.asarray(model.predict_on_batch(x))}

    saved = scratch / f"{name}_saved_model"
    write_saved_model(model, name, saved, None, image_shape)
    runs["saved_model"] = _reconstruction(predict.SavedModelRunner(saved))

    # TFLite converts from a batch-1 SavedModel (convae_tf.deploy.tflite says why).
    batch1 = scratch / f"{name}_batch1"
    write_saved_model(model, name, batch1, 1, image_shape)

    def calibration():
        for image in images[:CALIBRATION_IMAGES]:
            yield signatures.RECONSTRUCT, {signatures.IMAGES: image[None]}

    for quantization in TFLITE_QUANTIZATIONS:
        flatbuffer = tflite.convert(
            batch1,
            [signatures.RECONSTRUCT],
            quantization,
            calibration if quantization == "int8" else None,
        )
        path = scratch / f"{name}_{quantization}.tflite"
        path.write_bytes(flatbuffer)
        runs[f"tflite_{quantization}"] = _reconstruction(predict.TFLiteRunner(path))
    return runs


def _reconstruction(runner) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: runner(signatures.RECONSTRUCT, x)["reconstruction"]
