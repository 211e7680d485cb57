"""The errors that a user's input causes; every stage raises these, and the CLIs turn them
into one line on stderr with exit code 2 (`convae_tf.cli`). Anything else is a bug and keeps
its traceback. Imports nothing, so every stage (data included) can use it.
"""


class UserError(ValueError):
    """Bad input from the user; the message names the problem and the fix, on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).splitlines()))


class ConfigError(UserError):
    """A bad configuration or flag value, or a run folder that cannot be used as asked."""


class DataError(UserError):
    """A dataset spec or its data is unusable."""


class UnknownModelError(UserError):
    """A model name that is not registered."""
