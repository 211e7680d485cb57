"""`python -m convae_tf.evaluate` (console script `convae-evaluate`):
measure a finished run on the five applications.
The work is done in `convae_tf/evaluation/evaluate.py`."""

from convae_tf.evaluation.evaluate import run

if __name__ == "__main__":
    run()
