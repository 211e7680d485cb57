"""The serving signatures of a trained model, written as a SavedModel.

Four named, deterministic endpoints, each with a named input and named outputs (dicts), so
that TF Serving's REST answers and LiteRT's signature runners use readable keys:

    serving_default  images → {"reconstruction"}         (TF Serving's default)
    encode           images → {"code"}  (VAE: {"mean", "log_var"}; model.encode_outputs)
    decode           code   → {"images"}                 code as model.code gives it
    score            images → {"score"}                  per-example anomaly score

and one with two inputs (`add_inpaint`), in every SavedModel and in the TFLite files of a model
trained to fill holes (`model.fills_holes`; `tflite_names`):

    inpaint          images, masks → {"inpainted"}      holes filled, known pixels kept

A model whose decoder needs more than the code (a denoiser with skip connections) has no
`decode`: `names(model)` lists the one-input signatures that a model exports.

Images are float32 in [0, 1], shape (batch, H, W, C); the code is float32 (batch, latent_dim);
masks are float32 (batch, H, W, 1), 1 where a pixel is missing (white in a mask file), 0 where
it is known. A fully convolutional model (`model.fully_convolutional`) serves `serving_default`
(and `inpaint`) at any H×W, (batch, None, None, C), when the batch is free (TFLite files fix
every shape); `encode`, `decode` and `score` keep the training H×W (their code, and the fitted
score's statistics of it, have that size's shape).
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

RECONSTRUCT, ENCODE, DECODE, SCORE = "serving_default", "encode", "decode", "score"
SIGNATURES = (RECONSTRUCT, ENCODE, DECODE, SCORE)
IMAGES, CODE = "images", "code"
INPAINT, MASKS, INPAINTED = "inpaint", "masks", "inpainted"


def names(model: keras.Model) -> tuple[str, ...]:
    """The signatures that `model` exports: all four, less `decode` where the model cannot
    decode a code on its own (`model.decodes_codes`)."""
    return tuple(name for name in SIGNATURES if name != DECODE or model.decodes_codes)


def tflite_names(model: keras.Model) -> tuple[str, ...]:
    """The signatures of a model's TFLite files (and of its parity check): `names(model)`,
    and `inpaint` for a model trained to fill holes (one never trained on holes fills them
    poorly; its SavedModel serves `inpaint` all the same)."""
    return names(model) + ((INPAINT,) if model.fills_holes else ())


def endpoints(model: keras.Model) -> dict:
    """name → fn(input tensors) → dict of named outputs, at inference (no corruption, no
    sampling). The model names its own `encode` outputs (`encode_outputs`)."""
    return {
        RECONSTRUCT: lambda images: {"reconstruction": model(images, training=False)},
        ENCODE: lambda images: model.encode_outputs(images),
        DECODE: lambda code: {"images": model.decode(code, training=False)},
        SCORE: lambda images: {"score": model.score(images)},
        INPAINT: lambda images, masks: {INPAINTED: model.inpaint(images, masks)},
    }


def input_specs(model: keras.Model, batch_size: int | None) -> dict:
    """The input spec of each signature. With a free batch (batch_size=None, TF Serving's)
    a fully convolutional model reconstructs any H×W; a fixed batch (the TFLite converter's)
    fixes every shape."""
    height, width, channels = model.image_shape
    images = tf.TensorSpec((batch_size, height, width, channels), tf.float32, name=IMAGES)
    code = tf.TensorSpec((batch_size, model.latent_dim), tf.float32, name=CODE)
    specs = {RECONSTRUCT: images, ENCODE: images, DECODE: code, SCORE: images}
    if batch_size is None and model.fully_convolutional:
        specs[RECONSTRUCT] = tf.TensorSpec((None, None, None, channels), tf.float32, name=IMAGES)
    return specs


def write_saved_model(
    model: keras.Model, path: Path, batch_size: int | None = None, only=None
) -> None:
    """Writes the signatures of `model` (`only` those, if given) as a SavedModel at `path`.

    A model reloaded from `.keras` has never been called, so every endpoint gets an explicit
    input signature (docs/ARCHITECTURE.md: pitfalls). `batch_size=None` is what TF Serving
    needs; the TFLite converter needs 1 (see `convae_tf.tflite`). Each weight is stored once.
    """
    # No `archive.track(model)`: the endpoints capture every variable they use, and tracking
    # the model as well stores each weight twice (its keras.Variable and the tf.Variable
    # under it are two trackables: keras-team/keras#23553), doubling the SavedModel's size.
    archive = keras.export.ExportArchive()
    fns, specs = endpoints(model), input_specs(model, batch_size)
    # serving_default first: ExportArchive would alias the first endpoint as the default.
    for name in sorted(only or names(model), key=lambda n: n != RECONSTRUCT):
        archive.add_endpoint(name, fns[name], input_signature=[specs[name]])
    if only is None:
        add_inpaint(archive, model, batch_size)
    archive.write_out(str(path), verbose=False)


def add_inpaint(archive, model: keras.Model, batch_size: int | None) -> None:
    """Adds the `inpaint` endpoint to `archive`: `images` of the `serving_default` input's
    shape and `masks` of that shape with one channel → {"inpainted"}, `model.inpaint`: the
    pixels where masks is 1 filled in, the others exactly as given.

    Not among `names(model)`, the one-input signatures; among `tflite_names(model)` for a model
    trained to fill holes."""
    images = input_specs(model, batch_size)[RECONSTRUCT]
    masks = tf.TensorSpec((*images.shape[:-1], 1), tf.float32, name=MASKS)
    archive.add_endpoint(INPAINT, endpoints(model)[INPAINT], input_signature=[images, masks])


def random_ops(concrete_function) -> set[str]:
    """The op types that draw random numbers anywhere in a signature's graph (nested functions
    included). An exported inference path must have none: a served model must be
    deterministic, and TFLite cannot convert them (docs/ARCHITECTURE.md: the VAE's sampling)."""
    graph_def = concrete_function.graph.as_graph_def()
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return {node.op for node in nodes if "Random" in node.op}
