"""convae_tf: convolutional autoencoders for Keras 3 / TensorFlow.

import convae_tf
model = convae_tf.get_model("ae", latent_dim=16)
convae_tf.list_models()
"""

from convae_tf.utils import quiet as _quiet

# Before TensorFlow is imported, as its C++ log level is read then; changes nothing outside a CLI.
_quiet.quiet_start()

# Importing the variants registers them with Keras, so that a saved model.keras loads once
# convae_tf is imported. The predict CLI runs exported models and needs neither them nor Keras.
if _quiet.cli_module() != "convae_tf.predict":
    from convae_tf import models as _models  # noqa: E402, F401

__version__ = "0.1.0"


def get_model(name: str, **config):
    """A new, unbuilt model of the registered variant `name` (see `list_models()`)."""
    from convae_tf.models import registry

    return registry.get(name)(**config)


def list_models() -> list[str]:
    from convae_tf.models import registry

    return registry.names()


__all__ = ["__version__", "get_model", "list_models"]
