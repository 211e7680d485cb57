"""Our side of every comparison: train.py's default recipe and our models built under it.

A name is a registered model (`vae`, `ae`, …) or `vae@reference`: our `vae` with the keras.io
VAE's layers (see REFERENCE_ARCHITECTURE).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

import convae_tf
from convae_tf.training import config as train_config
from convae_tf.training import precision
from experiments import references

# Our `vae` with the keras.io VAE's layers: stride-2 convolutions 32, 64 (kernel 3, relu),
# Dense 16 relu, latent 2; Dense 7·7·64 relu, Conv2DTranspose 64, 32 stride 2, then a stride-1
# Conv2DTranspose to the logits (the reference has a sigmoid there; ours applies it outside).
REFERENCE_ARCHITECTURE = dict(
    latent_dim=2,
    filters=(32, 64),
    kernel_size=3,
    pooling="stride",
    hidden_units=16,
    decoder_block="transpose",
    output_layer="transpose",
)
AT_REFERENCE_ARCHITECTURE = "vae@reference"


def recipe() -> dict:
    """Our training recipe: train.py's defaults (what `python -m convae_tf.train` does)."""
    defaults = train_config.get_config()
    return {
        "batch_size": defaults.batch_size,
        "learning_rate": defaults.learning_rate,
        "precision": precision.resolve(defaults.precision),
    }


def training_precision(name: str) -> contextlib.AbstractContextManager:
    """What compiled training functions of `name` run under: our recipe's precision for ours
    (onednn_bfloat16 is a rewrite of the running graph, see convae_tf.training.precision),
    float32 as published for the references."""
    return precision.graph_rewrite(
        "float32" if name in references.REFERENCES else recipe()["precision"]
    )


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build(name: str, image_shape, rec: dict) -> keras.Model:
    """Our model `name`, built and compiled under the recipe `rec` (see `recipe`)."""
    kwargs = dict(REFERENCE_ARCHITECTURE) if name == AT_REFERENCE_ARCHITECTURE else {}
    with dtype_policy(precision.keras_policy(rec["precision"])):
        model = convae_tf.get_model(name.split("@")[0], **kwargs)
        model.build((None, *image_shape))
    model.compile(optimizer=keras.optimizers.Adam(rec["learning_rate"]))
    return model


def float32_copy(model: keras.Model) -> keras.Model:
    """Our model as `model.keras` reloads it (float32 layers, the trained weights): what the
    export and every inference path see, whatever the training precision."""
    with dtype_policy("float32"):
        copy = type(model).from_config(model.get_config())
        copy.build((None, *model.image_shape))
    copy.set_weights(model.get_weights())
    return copy
