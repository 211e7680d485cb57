"""`python -m convae_tf.export` (console script `convae-export`):
export a finished run for TF Serving and LiteRT.
The work is done in `convae_tf/deploy/export.py`."""

from absl import flags

from convae_tf import cli
from convae_tf.deploy.export import FIELDS, export


def run() -> None:
    """`python -m convae_tf.export`: the flags are defined here, not on import (train,
    evaluate and export share flag names and may be imported together)."""
    workdir = flags.DEFINE_string(
        "workdir", None, "A finished training run (config.json, model.keras).", required=True
    )
    export_config = cli.define_config_flags(FIELDS)

    def main(argv):
        del argv
        export(workdir.value, **export_config.resolve().to_dict())

    cli.run(main)


if __name__ == "__main__":
    run()
