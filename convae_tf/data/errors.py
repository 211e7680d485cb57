"""The one exception type of `convae_tf.data`."""


class DataError(ValueError):
    """A dataset spec or its data is unusable; the message names the problem and the fix.

    Messages are kept to one line so that a CLI can print them as they are.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).splitlines()))
