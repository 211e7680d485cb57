"""The frozen description of a model's network: what the encoder and decoder builders read.

The base model makes one `Architecture` from its constructor arguments and keeps it as
`model.architecture`; each field is also a read-only attribute of the model
(`ArchitectureField`), so `model.filters` and `get_config()` read the same value. The
builders (`models/nets.py`) take it whole instead of a dozen arguments each.
"""

from __future__ import annotations

import dataclasses

from convae_tf.models import blocks

# Where the code sits: "dense" (Flatten → Dense(code): every code value sees the whole image),
# or "conv" (a 1×1 Conv2D on the encoder's last feature map, flattened: each position keeps its
# own channels, the layout of the keras.io denoiser's 7×7×32 code). Both give a flat code of
# latent_dim values, so everything downstream (VAE, scores, probes, export) is the same.
BOTTLENECKS = ("dense", "conv")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The network of a convolutional autoencoder for images of any H×W×C.

    Attributes:
        latent_dim: size of the code (the dense bottleneck).
        filters: Conv2D widths of the encoder blocks, each followed by 2× pooling; the
            decoder mirrors them. An int is one block.
        kernel_size: Conv2D kernel size.
        activation: activation of the hidden layers.
        pooling: "max" or "avg" (Conv2D then 2× pooling), or "stride" (a stride-2 Conv2D).
        upsampling: "nearest" or "bilinear" (decoder_block="upsample").
        decoder_block: "upsample" (upsampling then Conv2D) or "transpose" (Conv2DTranspose).
        hidden_units: width of a dense hidden layer between the encoder's flattened features
            and the code (0: none, the code is read off the features directly).
        output_layer: the decoder's last layer, which emits the logits: "conv" (Conv2D) or
            "transpose" (a stride-1 Conv2DTranspose, as in the keras.io VAE; faster on CPU).
        block_convs: convolutions per encoder and decoder block (1: the classic one; 2 or
            more add stride-1 Conv2D layers at the block's width, VGG-style depth); an int
            for every block, or one per encoder block, the decoder block of the same size
            mirroring it (depth where it is wanted: at full resolution, for detail).
        normalization: "none", or "batch": a BatchNormalization between each block
            convolution and its activation (the convolution then has no bias). Inference uses
            its moving statistics, which can lag the batch statistics after a short run.
        bottleneck: "dense" (the encoder's features → Dense(latent_dim)) or "conv": a 1×1
            Conv2D on the last feature map gives the code, latent_dim values laid out as
            latent_dim / (h·w) channels on its h×w grid (7×7 for 28×28 images and two blocks),
            and the decoder starts from them; latent_dim must be a multiple of h·w.
            experiments/results/dae_mnist.md compares the two on denoising.
        skip_connections: U-Net skip connections from each encoder block to the decoder block
            of its size (see `DenoisingAE`, the one model that offers them).
    """

    latent_dim: int
    filters: tuple[int, ...]
    kernel_size: int
    activation: str
    pooling: str
    upsampling: str
    decoder_block: str
    hidden_units: int
    output_layer: str
    block_convs: int | tuple[int, ...]
    normalization: str
    bottleneck: str
    skip_connections: bool = False

    def __post_init__(self):
        filters = self.filters
        filters = (filters,) if isinstance(filters, int) else tuple(int(f) for f in filters)
        convs = self.block_convs
        # An int stays an int (the config of every model saved before per-block counts).
        convs = tuple(int(n) for n in convs) if isinstance(convs, (list, tuple)) else int(convs)
        # Frozen: the normalised values are set once, here, the way dataclasses do it.
        for name, value in (
            ("filters", filters),
            ("latent_dim", int(self.latent_dim)),
            ("kernel_size", int(self.kernel_size)),
            ("hidden_units", int(self.hidden_units)),
            ("block_convs", convs),
        ):
            object.__setattr__(self, name, value)
        self._check()

    def _check(self) -> None:
        blocks.check_choice("pooling", self.pooling, blocks.DOWNSAMPLINGS)
        blocks.check_choice("upsampling", self.upsampling, blocks.UPSAMPLINGS)
        blocks.check_choice("decoder_block", self.decoder_block, blocks.DECODER_BLOCKS)
        blocks.check_choice("output_layer", self.output_layer, blocks.OUTPUT_LAYERS)
        blocks.check_choice("normalization", self.normalization, blocks.NORMALIZATIONS)
        blocks.check_choice("bottleneck", self.bottleneck, BOTTLENECKS)
        per_block = isinstance(self.block_convs, tuple)
        if min(self.block_convs if per_block else (self.block_convs,), default=0) < 1 or (
            per_block and len(self.block_convs) != len(self.filters)
        ):
            raise ValueError(
                f"block_convs={self.block_convs} must be >= 1 (convolutions per block), one "
                f"count for every block or {len(self.filters)} of them (one per filters entry)"
            )
        if self.hidden_units < 0:
            raise ValueError(f"hidden_units={self.hidden_units} must be >= 0 (0: no hidden layer)")
        if self.hidden_units and self.bottleneck == "conv":
            raise ValueError("hidden_units is a dense layer: it needs bottleneck='dense'")
        if self.latent_dim < 1 or not self.filters or min(self.filters) < 1:
            raise ValueError(
                f"latent_dim={self.latent_dim} and filters={self.filters} must be positive, "
                "with at least one filter count"
            )
        if not isinstance(self.skip_connections, bool):
            raise ValueError(f"skip_connections={self.skip_connections!r} must be True or False")

    def convs(self, block: int) -> int:
        """Convolutions of encoder block `block` (0: full resolution) and of the decoder block
        that mirrors it."""
        return self.block_convs[block] if isinstance(self.block_convs, tuple) else self.block_convs

    @property
    def depth(self) -> int:
        """Encoder blocks, each halving the size (and decoder blocks, each doubling it)."""
        return len(self.filters)


class ArchitectureField:
    """A read-only model attribute that is the field of the same name of `model.architecture`:
    one source for the value that the builders read, the attribute and `get_config`."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, model, owner=None):
        if model is None:
            return self
        return getattr(model.architecture, self.name)

    def __set__(self, model, value):
        raise AttributeError(
            f"{self.name} is part of the model's frozen architecture: pass it to the constructor"
        )


def architecture_attributes(model_class):
    """Class decorator: every field of `Architecture` as a read-only attribute of the model
    class (`ArchitectureField`), so a new field needs no declaration of its own."""
    for field in dataclasses.fields(Architecture):
        attribute = ArchitectureField()
        attribute.__set_name__(model_class, field.name)
        setattr(model_class, field.name, attribute)
    return model_class
