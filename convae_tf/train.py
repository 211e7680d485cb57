"""`python -m convae_tf.train` (console script `convae-train`):
train a model into a run folder.
The work is done in `convae_tf/training/train.py`."""

from absl import flags

from convae_tf import cli
from convae_tf.training import config
from convae_tf.training.train import train_and_evaluate


def run() -> None:
    """`python -m convae_tf.train`: the flags are defined here, not on import (evaluate, embed
    and export share flag names and may be imported beside this module)."""
    overwrite = flags.DEFINE_bool(
        "overwrite", False, "Replace a finished run in --workdir instead of refusing."
    )
    train_config = cli.define_config_flags(config.FIELDS)

    def main(argv) -> None:
        del argv
        train_and_evaluate(train_config.resolve(), overwrite=overwrite.value)

    cli.run(main)


if __name__ == "__main__":
    run()
