"""Building blocks of the encoder and decoder (functional-API helpers)."""

from __future__ import annotations

import contextlib
import contextvars

from keras import layers

POOLINGS = {"max": layers.MaxPooling2D, "avg": layers.AveragePooling2D}
# How an encoder block halves the spatial size: a pooling layer after a stride-1 Conv2D, or
# the Conv2D itself with stride 2 ("stride", as in the keras.io VAE): a quarter of the
# convolution's multiply-adds and no pooling pass.
DOWNSAMPLINGS = (*POOLINGS, "stride")
UPSAMPLINGS = ("nearest", "bilinear")
DECODER_BLOCKS = ("upsample", "transpose")
OUTPUT_LAYERS = ("conv", "transpose")
# What sits between each block convolution and its activation: nothing, or BatchNormalization.
NORMALIZATIONS = ("none", "batch")


# The layers by name that `layer` hands out instead of new ones (see `sharing_layers`).
_SHARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("shared", default=None)


@contextlib.contextmanager
def sharing_layers(*models):
    """Inside, the builders take the layers of `models` that bear the names they would create,
    instead of new ones: a second graph of the same weights (the any-size view of a fully
    convolutional model, models/nets.py)."""
    token = _SHARED.set({layer.name: layer for model in models for layer in model.layers})
    try:
        yield
    finally:
        _SHARED.reset(token)


def layer(cls, *args, name: str, **kwargs):
    """`cls(*args, name=name, **kwargs)`, or the layer named `name` inside `sharing_layers`."""
    shared = _SHARED.get()
    if shared is not None and name in shared:
        return shared[name]
    return cls(*args, name=name, **kwargs)


def conv(
    x,
    filters: int,
    kernel_size: int,
    activation,
    name: str,
    normalization: str = "none",
    strides: int = 1,
    transpose: bool = False,
    dtype=None,
):
    """One Conv2D (or Conv2DTranspose) and its activation, named `name`. normalization="batch"
    puts a BatchNormalization (`name`_bn) between the convolution and the activation
    (`name`_act), as in Ioffe & Szegedy 2015, and drops the convolution's bias, which the
    normalisation's offset replaces."""
    normalized = normalization == "batch"
    x = layer(
        layers.Conv2DTranspose if transpose else layers.Conv2D,
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        activation=None if normalized else activation,
        use_bias=not normalized,
        name=name,
        dtype=dtype,
    )(x)
    if not normalized:
        return x
    x = layer(layers.BatchNormalization, name=f"{name}_bn", dtype=dtype)(x)
    return layer(layers.Activation, activation, name=f"{name}_act", dtype=dtype)(x)


def extra_convs(
    x,
    filters: int,
    kernel_size: int,
    activation: str,
    count: int,
    name: str,
    normalization: str = "none",
):
    """`count` more stride-1 Conv2D layers at the same width: depth without changing the size
    (the VGG way, several 3×3 convolutions per resolution)."""
    for j in range(count):
        x = conv(x, filters, kernel_size, activation, f"{name}_extra{j}", normalization)
    return x


def conv_pool_block(
    x,
    filters: int,
    kernel_size: int,
    activation: str,
    pooling: str,
    name: str,
    convs: int = 1,
    normalization: str = "none",
    return_features: bool = False,
):
    """Conv2D then 2×2 pooling, or a stride-2 Conv2D (pooling="stride"): halves the size.
    `convs` > 1 adds stride-1 Conv2D layers: before the pooling (VGG), or after the stride-2
    Conv2D, where they run on a quarter of the pixels. `return_features=True` returns
    (output, the full-resolution map that it was downsampled from): what a skip connection
    carries; the block's input with pooling="stride", which has no map of its own at that size."""
    block_input = x
    strides = 2 if pooling == "stride" else 1
    x = conv(x, filters, kernel_size, activation, f"{name}_conv", normalization, strides=strides)
    x = extra_convs(x, filters, kernel_size, activation, convs - 1, name, normalization)
    if pooling == "stride":
        return (x, block_input) if return_features else x
    features = x
    x = layer(POOLINGS[pooling], 2, name=f"{name}_pool")(x)
    return (x, features) if return_features else x


def upsample_conv_block(
    x,
    filters: int,
    kernel_size: int,
    activation: str,
    upsampling: str,
    block: str,
    name: str,
    dtype=None,
    convs: int = 1,
    normalization: str = "none",
    skip=None,
):
    """Doubles the spatial size: 2× upsampling then Conv2D, or a stride-2 Conv2DTranspose;
    `convs` > 1 adds stride-1 Conv2D layers after it (the mirror of `conv_pool_block`).
    `skip`: an encoder feature map of the doubled size, concatenated to the upsampled one
    before the stride-1 layers (a U-Net skip connection, Ronneberger et al. 2015).
    `dtype` (e.g. "float32" for a block that emits logits) overrides the global policy."""
    if block == "transpose":
        x = conv(
            x,
            filters,
            kernel_size,
            activation,
            f"{name}_deconv",
            normalization,
            strides=2,
            transpose=True,
            dtype=dtype,
        )
    else:
        x = layer(layers.UpSampling2D, 2, interpolation=upsampling, name=f"{name}_upsample")(x)
        x = conv(x, filters, kernel_size, activation, f"{name}_conv", normalization, dtype=dtype)
    if skip is not None:
        x = layer(layers.Concatenate, name=f"{name}_skip")([x, skip])
    return extra_convs(x, filters, kernel_size, activation, convs - 1, name, normalization)


def padded_size(size: int, depth: int) -> int:
    """The smallest multiple of 2**depth that holds `size`: the encoder pads odd sizes up to it
    so that `depth` poolings and upsamplings land back exactly, and the decoder crops back."""
    step = 2**depth
    return -(-size // step) * step


def pad_to_multiple(x, depth: int, name: str):
    height, width = x.shape[1], x.shape[2]
    pad_h, pad_w = padded_size(height, depth) - height, padded_size(width, depth) - width
    if not (pad_h or pad_w):
        return x
    # Zero padding at the bottom/right keeps the image content at the same pixel positions.
    return layers.ZeroPadding2D(((0, pad_h), (0, pad_w)), name=name)(x)


def crop_to(x, height: int, width: int, name: str):
    crop_h, crop_w = x.shape[1] - height, x.shape[2] - width
    if not (crop_h or crop_w):
        return x
    return layers.Cropping2D(((0, crop_h), (0, crop_w)), name=name)(x)


def check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(choices)}")


__all__ = [
    "DECODER_BLOCKS",
    "DOWNSAMPLINGS",
    "NORMALIZATIONS",
    "OUTPUT_LAYERS",
    "POOLINGS",
    "UPSAMPLINGS",
    "check_choice",
    "conv",
    "conv_pool_block",
    "crop_to",
    "extra_convs",
    "layer",
    "pad_to_multiple",
    "padded_size",
    "sharing_layers",
    "upsample_conv_block",
]
