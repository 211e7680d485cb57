"""`python -m convae_tf.embed` (console script `convae-embed`):
write the codes of a split to an .npz file.
The work is done in `convae_tf/evaluation/embed.py`."""

from absl import flags

from convae_tf import cli, data
from convae_tf.evaluation.embed import FIELDS, embed


def run() -> None:
    """`python -m convae_tf.embed`: the flags are defined here, not on import (train, embed
    and evaluate share flag names and may be imported together: tests, notebooks)."""
    workdir = flags.DEFINE_string(
        "workdir", None, "Folder of a finished training run.", required=True
    )
    output = flags.DEFINE_string("output", None, "Output .npz file.", required=True)
    embed_config = cli.define_config_flags(FIELDS)

    def main(argv) -> None:
        del argv
        options = embed_config.resolve().to_dict()
        with data.named_file_errors():  # a corrupt image file met while streaming: one line
            arrays = embed(workdir.value, output.value, **options)
        rows, width = arrays["codes"].shape
        print(
            f"[convae_tf] wrote {rows} codes of dimension {width} "
            f"({'with' if 'labels' in arrays else 'without'} labels) to {output.value}",
            flush=True,
        )

    cli.run(main)


if __name__ == "__main__":
    run()
