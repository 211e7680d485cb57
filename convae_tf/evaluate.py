"""`python -m convae_tf.evaluate` (console script `convae-evaluate`):
measure a finished run on the five applications.
The work is done in `convae_tf/evaluation/evaluate.py`."""

from absl import flags

from convae_tf import cli, data
from convae_tf.evaluation.evaluate import FIELDS, evaluate, summary


def run() -> None:
    """`python -m convae_tf.evaluate`: the flags are defined here, not on import (train, embed
    and evaluate share flag names and may be imported together: tests, notebooks)."""
    workdir = flags.DEFINE_string(
        "workdir", None, "Folder of a finished training run.", required=True
    )
    evaluate_config = cli.define_config_flags(FIELDS)

    def main(argv) -> None:
        del argv
        with data.named_file_errors():  # a corrupt image file met while streaming: one line
            results = evaluate(workdir.value, evaluate_config.resolve())
        print(
            f"[convae_tf] {results['model']} on {results['dataset']}:{results['split']} "
            f"({results['num_examples']} images, {results['seconds']} s): {summary(results)}\n"
            f"Results in {workdir.value}/: metrics.json, figures/ ({len(results['figures'])} "
            "eval figures)",
            flush=True,
        )

    cli.run(main)


if __name__ == "__main__":
    run()
