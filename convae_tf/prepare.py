"""`python -m convae_tf.prepare` (console script `convae-prepare`): convert a dataset to
sharded TFRecord files once, then train on it with `--dataset=tfrecord:DIR`.
The work is done in `convae_tf/data/prepare.py`."""

from convae_tf.data.prepare import run

if __name__ == "__main__":
    run()
