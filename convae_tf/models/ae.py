"""`ae`: the plain convolutional autoencoder (the base model, registered as is)."""

from convae_tf.models.base import ConvAutoencoder
from convae_tf.models.registry import register


@register("ae")
class ConvAE(ConvAutoencoder):
    """Conv2D + pooling encoder to a dense code, mirrored upsampling + Conv2D decoder."""
