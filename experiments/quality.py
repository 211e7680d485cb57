"""Time to quality: training wall time against the test negative ELBO, ours and the reference's.

The reference VAE trains a fixed number of epochs; our default `vae` trains until its test
−ELBO reaches the reference's final one; our `vae` at the reference's architecture trains the
same number of epochs as the reference. The −ELBO is per image, in nats, at the posterior mean,
measured in float32 whatever the training precision.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from convae_tf.training import precision
from experiments import ours, references
from experiments.datasets import Dataset

EVALUATION_BATCH = 1000


def say(message: str) -> None:
    print(f"[time to quality] {message}", flush=True)


def test_negative_elbo(model: keras.Model, images: np.ndarray) -> float:
    """Mean −ELBO of `images`, computed in float32 (the bfloat16 graph rewrite switched off):
    the reference's `negative_elbo`, or our VAE's `score` (the same quantity)."""
    fn = model.negative_elbo if isinstance(model, references.KerasIoVAE) else model.score
    with precision.graph_rewrite("float32"):
        scores = [
            np.asarray(fn(images[i : i + EVALUATION_BATCH]))
            for i in range(0, len(images), EVALUATION_BATCH)
        ]
    return float(np.mean(np.concatenate(scores)))


class QualityClock(keras.callbacks.Callback):
    """Training wall time (evaluation excluded) and the test −ELBO at each epoch's end; stops
    when `target` is reached."""

    def __init__(self, images: np.ndarray, target: float | None = None):
        super().__init__()
        self.images, self.target = images, target
        self.curve, self.train_seconds = [], 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.perf_counter() - self.started
        elbo = test_negative_elbo(self.model, self.images)
        self.curve.append((round(self.train_seconds, 2), round(elbo, 3)))
        if self.target is not None and elbo <= self.target:
            self.model.stop_training = True


def time_to_quality(ds: Dataset, epochs: int, checks_per_epoch: int, rec: dict) -> dict:
    """The three runs of the module docstring on `ds`; our default `vae` checks its test −ELBO
    `checks_per_epoch` times per epoch, so that it stops soon after reaching the target."""
    say(f"keras.io VAE, {epochs} epochs on {ds.spec}")
    keras.utils.set_random_seed(0)
    reference = references.keras_io_vae(ds.image_shape)
    ref_clock = QualityClock(ds.x_test)
    with ours.training_precision("keras_io_vae"):
        reference.fit(
            ds.x_train,
            epochs=epochs,
            batch_size=references.REFERENCE_BATCH,
            verbose=0,
            callbacks=[ref_clock],
        )
    target = ref_clock.curve[-1][1]
    say(f"  reference: −ELBO {target:.2f} nats after {ref_clock.train_seconds:.1f} s")

    results = {
        "reference": {
            "epochs": epochs,
            "seconds": ref_clock.train_seconds,
            "test_negative_elbo": target,
            "curve": ref_clock.curve,
        }
    }
    steps = -(-ds.pipes.num_train // rec["batch_size"])
    for name in ("vae", ours.AT_REFERENCE_ARCHITECTURE):
        keras.utils.set_random_seed(0)
        model = ours.build(name, ds.image_shape, rec)
        per_check = max(1, steps // checks_per_epoch) if name == "vae" else steps
        clock = QualityClock(ds.x_test, target if name == "vae" else None)
        with ours.training_precision(name):
            model.fit(
                ds.pipes.train.repeat(),
                epochs=epochs * steps // per_check,
                steps_per_epoch=per_check,
                verbose=0,
                callbacks=[clock],
            )
        reached = next((s for s, e in clock.curve if e <= target), None)
        results[name] = {
            "epochs_run": round(len(clock.curve) * per_check / steps, 3),
            "seconds": clock.train_seconds,
            "seconds_to_reference_elbo": reached,
            "time_ratio_to_reference": round(reached / ref_clock.train_seconds, 3)
            if reached
            else None,
            "test_negative_elbo": clock.curve[-1][1],
            "curve": clock.curve,
        }
        say(
            f"  {name}: final −ELBO {clock.curve[-1][1]:.2f} after {clock.train_seconds:.1f} s; "
            f"reached the reference's at {reached} s"
        )
    # The reference trains on the whole train split; ours holds out its validation share.
    ref_ips = len(ds.x_train) * epochs / ref_clock.train_seconds
    arch = results[ours.AT_REFERENCE_ARCHITECTURE]
    arch["images_per_second_ratio"] = round(
        ds.pipes.num_train * arch["epochs_run"] / arch["seconds"] / ref_ips, 3
    )
    return results
