"""convae_tf: convolutional autoencoders for Keras 3 / TensorFlow.

import convae_tf
model = convae_tf.get_model("ae", latent_dim=16)
convae_tf.list_models()
"""

from convae_tf.utils import quiet as _quiet

# Before TensorFlow is imported, as its C++ log level is read then; changes nothing outside a CLI.
_quiet.quiet_start()

from convae_tf import models as _models  # noqa: E402, F401  (registers every variant)
from convae_tf.models import registry  # noqa: E402

__version__ = "0.1.0"


def get_model(name: str, **config):
    """A new, unbuilt model of the registered variant `name` (see `list_models()`)."""
    return registry.get(name)(**config)


def list_models() -> list[str]:
    return registry.names()


__all__ = ["__version__", "get_model", "list_models"]
