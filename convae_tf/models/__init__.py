"""Every variant is imported here so that importing the package registers it."""

from convae_tf.models import ae, dae, sparse, stacked, vae  # noqa: F401  (they register)
from convae_tf.models.base import ConvAutoencoder

__all__ = ["ConvAutoencoder"]
