"""Model registry: a dict of names to model classes, filled by the `register` decorator.

Every registered class is also registered as Keras-serializable, so a `.keras` file names it
and `keras.saving.load_model` finds it again once `convae_tf` is imported.
"""

from __future__ import annotations

import difflib

import keras

from convae_tf.errors import UnknownModelError

_MODELS: dict[str, type] = {}


def register(name: str):
    """Class decorator: `@register("ae")` makes the class available as `get("ae")`."""

    def decorator(cls):
        if name in _MODELS:
            raise ValueError(
                f"model name {name!r} is already registered by {_MODELS[name].__qualname__}; "
                "pick another name"
            )
        keras.saving.register_keras_serializable(package="convae_tf", name=cls.__name__)(cls)
        cls.registered_name = name
        _MODELS[name] = cls
        return cls

    return decorator


def get(name: str) -> type:
    """The model class registered as `name`; the error lists the names that exist."""
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _MODELS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}{hint}; available models: {', '.join(names())}"
        ) from None


def names() -> list[str]:
    return sorted(_MODELS)
