"""`python -m convae_tf.embed` (console script `convae-embed`):
write the codes of a split to an .npz file.
The work is done in `convae_tf/evaluation/embed.py`."""

from convae_tf.evaluation.embed import run

if __name__ == "__main__":
    run()
