"""`python -m convae_tf.export` (console script `convae-export`):
export a finished run for TF Serving and LiteRT.
The work is done in `convae_tf/deploy/export.py`."""

from convae_tf.deploy.export import run

if __name__ == "__main__":
    run()
