"""`python -m convae_tf.train` (console script `convae-train`):
train a model into a run folder.
The work is done in `convae_tf/training/train.py`."""

from convae_tf.training.train import run

if __name__ == "__main__":
    run()
