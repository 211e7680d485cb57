"""Every variant is imported here so that importing the package registers it."""

from convae_tf.models import ae  # noqa: F401
from convae_tf.models.base import ConvAutoencoder

__all__ = ["ConvAutoencoder"]
