"""Encoder and decoder builders: architecture only, no loss.

Both are functional `keras.Model`s built for a fixed image shape from the model's frozen
`Architecture`, so `summary()` shows them and they export on their own. The encoder pads odd
sizes up to a multiple of 2**depth; the decoder crops back, so the reconstruction always has
the input's exact shape.
"""

from __future__ import annotations

import keras
from keras import layers

from convae_tf.models import blocks
from convae_tf.models.architecture import Architecture


def code_grid(image_shape, depth: int) -> tuple[int, int]:
    """(height, width) of the encoder's last feature map: the padded image halved `depth` times."""
    return tuple(blocks.padded_size(size, depth) // 2**depth for size in image_shape[:2])


def code_channels(image_shape, depth: int, code_size: int) -> int:
    """Channels of a convolutional code of `code_size` values; it must fill the grid exactly."""
    height, width = code_grid(image_shape, depth)
    channels, remainder = divmod(code_size, height * width)
    if remainder or not channels:
        raise ValueError(
            f"latent_dim={code_size} does not fill the {height}×{width} grid of the encoder's "
            f"last feature map with bottleneck='conv'; pass a multiple of {height * width}, "
            f"e.g. latent_dim={height * width * 32} (32 channels)"
        )
    return channels


def check_code_fits(architecture: Architecture, image_shape) -> None:
    """With the conv bottleneck, latent_dim (as the user gave it) must fill the code grid."""
    if architecture.bottleneck == "conv":
        code_channels(image_shape, architecture.depth, architecture.latent_dim)


def encoder(
    architecture: Architecture,
    image_shape: tuple[int, int, int],
    code_size: int,
    name: str = "encoder",
) -> keras.Model:
    """Image (H, W, C) → [Conv2D → pool] × len(filters) → Flatten → [Dense(hidden_units)] →
    Dense(code_size). `pooling="stride"` downsamples with stride-2 convolutions instead;
    `hidden_units` > 0 adds a dense hidden layer before the code (the keras.io VAE has 16);
    `block_convs` is the number of Conv2D layers per block; `normalization="batch"` puts a
    BatchNormalization after each of them. `bottleneck="conv"`: the code is a 1×1 Conv2D of
    the last feature map instead, flattened channel by channel (see `architecture.BOTTLENECKS`).
    `skip_connections`: the model's outputs are [code, *the full-resolution feature map of
    each block] (see `blocks.conv_pool_block`), for a `decoder` with skip connections.
    `code_size`: latent_dim, or more for an encoder that emits several values per code
    dimension (the VAE's mean and log-variance)."""
    arch = architecture
    images = keras.Input(image_shape, name="images")
    x, skips = _encoder_blocks(arch, blocks.pad_to_multiple(images, arch.depth, name="pad"))
    if arch.bottleneck == "conv":
        channels = code_channels(image_shape, arch.depth, code_size)
        x = _code_conv(x, channels)
        # Channel-major, so that a code made of parts (the VAE's mean, then its log-variance)
        # splits into whole feature maps, each the decoder's layout.
        x = layers.Permute((3, 1, 2), name="channels_first", dtype="float32")(x)
        code = layers.Flatten(name="code", dtype="float32")(x)
        return keras.Model(images, [code, *skips] if arch.skip_connections else code, name=name)
    x = layers.Flatten(name="flatten")(x)
    if arch.hidden_units:
        x = layers.Dense(arch.hidden_units, activation=arch.activation, name="hidden")(x)
    code = layers.Dense(code_size, name="code", dtype="float32")(x)
    return keras.Model(images, [code, *skips] if arch.skip_connections else code, name=name)


def _encoder_blocks(architecture: Architecture, x):
    """(the last feature map, [the full-resolution map of each block]) of the encoder's blocks
    on `x`, whose size is a multiple of 2**depth."""
    arch = architecture
    skips = []
    for i, width in enumerate(arch.filters):
        x, features = blocks.conv_pool_block(
            x,
            width,
            arch.kernel_size,
            arch.activation,
            arch.pooling,
            name=f"down{i}",
            convs=arch.convs(i),
            normalization=arch.normalization,
            return_features=True,
        )
        skips.append(features)
    return x, skips


def _code_conv(x, channels: int):
    # float32 under a mixed-precision policy: the code feeds the loss (the VAE's mean and
    # log-variance, the sparsity penalty), which stays in float32. A no-op in float32.
    return blocks.layer(layers.Conv2D, channels, 1, name="code_conv", dtype="float32")(x)


def _expand(code, image_shape, architecture: Architecture):
    """Code → the feature map where every decoder starts. Dense bottleneck: Dense → the shape
    that the encoder's last block emitted (its padded size halved len(filters) times,
    filters[-1] channels). Conv bottleneck: the code's own channels laid back on that grid."""
    arch = architecture
    low_h, low_w = code_grid(image_shape, arch.depth)
    if arch.bottleneck == "conv":
        channels = code_channels(image_shape, arch.depth, code.shape[-1])
        x = layers.Reshape((channels, low_h, low_w), name="reshape")(code)
        return layers.Permute((2, 3, 1), name="channels_last")(x)
    units = low_h * low_w * arch.filters[-1]
    x = layers.Dense(units, activation=arch.activation, name="expand")(code)
    return layers.Reshape((low_h, low_w, arch.filters[-1]), name="reshape")(x)


def decoder(
    architecture: Architecture,
    image_shape: tuple[int, int, int],
    skip_shapes: tuple = (),
    name: str = "decoder",
) -> keras.Model:
    """Code (latent_dim,) → Dense → reshape → [upsample → Conv2D] × len(filters), mirrored →
    Conv2D(C) logits. With `bottleneck="conv"` the code is reshaped onto its grid directly
    (no Dense). `skip_shapes`: the shapes (H, W, C) of the encoder's skip feature maps, block 0
    first; the decoder then takes [code, *those maps] and each block concatenates the map of
    its size after upsampling (a U-Net: the code carries the content, the maps the fine
    detail). `block_convs` is the number of convolutions per block, the upsampling one
    included; `normalization="batch"` puts a BatchNormalization after each (not after the
    logits).

    The decoder returns logits; the model applies the sigmoid, so that binary cross-entropy can
    be computed from logits (numerically stable) while outputs stay in [0, 1].
    `output_layer="transpose"` makes the last layer a stride-1 Conv2DTranspose (the keras.io
    VAE's): the same function class, but oneDNN's kernel for one output channel runs faster
    on CPU than Conv2D's.
    """
    arch = architecture
    height, width, channels = image_shape
    code = keras.Input((arch.latent_dim,), name="code")
    skips = [keras.Input(shape, name=f"skip{k}") for k, shape in enumerate(skip_shapes)]
    logits = _decoder_blocks(arch, _expand(code, image_shape, arch), skips, channels)
    logits = blocks.crop_to(logits, height, width, name="crop")
    return keras.Model([code, *skips] if skips else code, logits, name=name)


def _decoder_blocks(architecture: Architecture, x, skips, channels: int):
    """The decoder's blocks from its first feature map `x` to the logits (C = `channels`), at
    the padded size; `skips`: the encoder's maps, block 0 first, or none."""
    arch = architecture
    for i, width_i in enumerate(reversed(arch.filters)):
        x = blocks.upsample_conv_block(
            x,
            width_i,
            arch.kernel_size,
            arch.activation,
            arch.upsampling,
            arch.decoder_block,
            name=f"up{i}",
            convs=arch.convs(arch.depth - 1 - i),
            normalization=arch.normalization,
            skip=skips[arch.depth - 1 - i] if skips else None,
        )
    # float32 under a mixed-precision policy: the logits feed the loss, computed in float32.
    output = layers.Conv2DTranspose if arch.output_layer == "transpose" else layers.Conv2D
    return blocks.layer(
        output, channels, arch.kernel_size, padding="same", name="logits", dtype="float32"
    )(x)


def any_size_networks(
    architecture: Architecture,
    trained: tuple[keras.Model, ...],
    channels: int,
    code_channels: int,
    extra_input_channels: int = 0,
) -> tuple[keras.Model, keras.Model]:
    """(encoder, decoder) of any H×W on the layers (the weights) of the `trained` encoder and
    decoder of a conv bottleneck: the same network without what ties it to one size (the
    padding, the flattening of the code, the cropping). The encoder takes images already
    padded to a multiple of 2**depth and gives the code as a feature map (h, w,
    `code_channels`) (with skip connections: [that map, *the skip maps]); the decoder takes
    the same and gives logits at the padded size. `extra_input_channels`: channels that the
    encoder reads besides the image's `channels` (the dae's mask channel)."""
    arch = architecture
    with blocks.sharing_layers(*trained):
        images = keras.Input((None, None, channels + extra_input_channels), name="padded_images")
        x, skips = _encoder_blocks(arch, images)
        code = _code_conv(x, code_channels)
        outputs = [code, *skips] if arch.skip_connections else code
        encoder_any = keras.Model(images, outputs, name="any_size_encoder")
        code_in = keras.Input((None, None, code_channels), name="code_map")
        skip_in = [keras.Input((None, None, s.shape[-1])) for s in skips]
        if not arch.skip_connections:
            skip_in = []
        logits = _decoder_blocks(arch, code_in, skip_in, channels)
        inputs = [code_in, *skip_in] if skip_in else code_in
        decoder_any = keras.Model(inputs, logits, name="any_size_decoder")
    return encoder_any, decoder_any


def mirrored_decoder(
    architecture: Architecture,
    image_shape: tuple[int, int, int],
    name: str = "decoder",
) -> keras.Model:
    """Code → Dense → reshape → one block per encoder block, in reverse → logits.

    Unlike `decoder` (whose last Conv2D(C) comes after all the upsampling blocks), block
    `mirror{k}` is the exact inverse in shape of encoder block `down{k}`: it doubles the spatial
    size and restores that block's input channels (`filters[k - 1]`, or C for k = 0, with no
    activation: the logits). So encoder block k and mirror block k form a shallow autoencoder
    of their own, which is what greedy layer-wise pretraining trains (the `stacked` model).
    """
    arch = architecture
    height, width, channels = image_shape
    code = keras.Input((arch.latent_dim,), name="code")
    x = _expand(code, image_shape, arch)
    for k in reversed(range(arch.depth)):
        width_k, activation_k = (arch.filters[k - 1], arch.activation) if k else (channels, None)
        x = blocks.upsample_conv_block(
            x,
            width_k,
            arch.kernel_size,
            activation_k,
            arch.upsampling,
            arch.decoder_block,
            name=f"mirror{k}",
            # The logits feed the loss: float32 under a mixed-precision policy.
            dtype=None if k else "float32",
        )
    logits = blocks.crop_to(x, height, width, name="crop")
    return keras.Model(code, logits, name=name)
