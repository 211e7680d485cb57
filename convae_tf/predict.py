"""`python -m convae_tf.predict` (console script `convae-predict`):
run an exported model (SavedModel or .tflite) on image files.
The work is done in `convae_tf/deploy/predict.py`."""

from convae_tf.deploy.predict import run

if __name__ == "__main__":
    run()
