"""Encoder and decoder builders: architecture only, no loss.

Both are functional `keras.Model`s built for a fixed image shape, so `summary()` shows them and
they export on their own. The encoder pads odd sizes up to a multiple of 2**depth; the decoder
crops back, so the reconstruction always has the input's exact shape.
"""

from __future__ import annotations

import keras
from keras import layers

from convae_tf.models import blocks


def encoder(
    image_shape: tuple[int, int, int],
    filters: tuple[int, ...],
    code_size: int,
    kernel_size: int = 3,
    activation: str = "relu",
    pooling: str = "max",
    name: str = "encoder",
    hidden_units: int = 0,
    block_convs: int = 1,
    normalization: str = "none",
) -> keras.Model:
    """Image (H, W, C) → [Conv2D → pool] × len(filters) → Flatten → [Dense(hidden_units)] →
    Dense(code_size). `pooling="stride"` downsamples with stride-2 convolutions instead;
    `hidden_units` > 0 adds a dense hidden layer before the code (the keras.io VAE has 16);
    `block_convs` is the number of Conv2D layers per block; `normalization="batch"` puts a
    BatchNormalization after each of them."""
    images = keras.Input(image_shape, name="images")
    x = blocks.pad_to_multiple(images, len(filters), name="pad")
    for i, width in enumerate(filters):
        x = blocks.conv_pool_block(
            x,
            width,
            kernel_size,
            activation,
            pooling,
            name=f"down{i}",
            convs=block_convs,
            normalization=normalization,
        )
    x = layers.Flatten(name="flatten")(x)
    if hidden_units:
        x = layers.Dense(hidden_units, activation=activation, name="hidden")(x)
    # float32 under a mixed-precision policy: the code feeds the loss (the VAE's mean and
    # log-variance, the sparsity penalty), which stays in float32. A no-op in float32.
    code = layers.Dense(code_size, name="code", dtype="float32")(x)
    return keras.Model(images, code, name=name)


def _expand(code, image_shape, filters, activation):
    """Code → Dense → the feature map that the encoder's last block emitted (its padded size
    halved len(filters) times, filters[-1] channels): where every decoder starts."""
    depth = len(filters)
    low_h, low_w = (blocks.padded_size(size, depth) // 2**depth for size in image_shape[:2])
    x = layers.Dense(low_h * low_w * filters[-1], activation=activation, name="expand")(code)
    return layers.Reshape((low_h, low_w, filters[-1]), name="reshape")(x)


def decoder(
    image_shape: tuple[int, int, int],
    filters: tuple[int, ...],
    latent_dim: int,
    kernel_size: int = 3,
    activation: str = "relu",
    upsampling: str = "nearest",
    block: str = "upsample",
    name: str = "decoder",
    output_layer: str = "conv",
    block_convs: int = 1,
    normalization: str = "none",
) -> keras.Model:
    """Code → Dense → reshape → [upsample → Conv2D] × len(filters), mirrored → Conv2D(C) logits.
    `block_convs` is the number of convolutions per block, the upsampling one included;
    `normalization="batch"` puts a BatchNormalization after each (not after the logits).

    The decoder returns logits; the model applies the sigmoid, so that binary cross-entropy can
    be computed from logits (numerically stable) while outputs stay in [0, 1].
    `output_layer="transpose"` makes the last layer a stride-1 Conv2DTranspose (the keras.io
    VAE's): the same function class, but oneDNN's kernel for one output channel is ~2.5× faster
    than Conv2D's here (forward + backward, batch 128, 28×28×32 → 1).
    """
    height, width, channels = image_shape
    code = keras.Input((latent_dim,), name="code")
    x = _expand(code, image_shape, filters, activation)
    for i, width_i in enumerate(reversed(filters)):
        x = blocks.upsample_conv_block(
            x,
            width_i,
            kernel_size,
            activation,
            upsampling,
            block,
            name=f"up{i}",
            convs=block_convs,
            normalization=normalization,
        )
    # float32 under a mixed-precision policy: the logits feed the loss, computed in float32.
    output = layers.Conv2DTranspose if output_layer == "transpose" else layers.Conv2D
    logits = output(channels, kernel_size, padding="same", name="logits", dtype="float32")(x)
    logits = blocks.crop_to(logits, height, width, name="crop")
    return keras.Model(code, logits, name=name)


def mirrored_decoder(
    image_shape: tuple[int, int, int],
    filters: tuple[int, ...],
    latent_dim: int,
    kernel_size: int = 3,
    activation: str = "relu",
    upsampling: str = "nearest",
    block: str = "upsample",
    name: str = "decoder",
) -> keras.Model:
    """Code → Dense → reshape → one block per encoder block, in reverse → logits.

    Unlike `decoder` (whose last Conv2D(C) comes after all the upsampling blocks), block
    `mirror{k}` is the exact inverse in shape of encoder block `down{k}`: it doubles the spatial
    size and restores that block's input channels (`filters[k - 1]`, or C for k = 0, with no
    activation: the logits). So encoder block k and mirror block k form a shallow autoencoder
    of their own, which is what greedy layer-wise pretraining trains (the `stacked` model).
    """
    height, width, channels = image_shape
    code = keras.Input((latent_dim,), name="code")
    x = _expand(code, image_shape, filters, activation)
    for k in reversed(range(len(filters))):
        width_k, activation_k = (filters[k - 1], activation) if k else (channels, None)
        x = blocks.upsample_conv_block(
            x,
            width_k,
            kernel_size,
            activation_k,
            upsampling,
            block,
            name=f"mirror{k}",
            # The logits feed the loss: float32 under a mixed-precision policy.
            dtype=None if k else "float32",
        )
    logits = blocks.crop_to(x, height, width, name="crop")
    return keras.Model(code, logits, name=name)
