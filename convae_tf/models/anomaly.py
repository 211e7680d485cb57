"""The fitted anomaly score: how far an image's reconstruction and its code are from those of
held-out normal images.

A raw reconstruction error ranks anomalies that are simpler than the normal images as normal:
an autoencoder of 2s rebuilds a 1 (few ink pixels) with a small error. Their codes, though,
fall where no normal code lies. So after training, a Gaussian is fitted to the codes of
held-out normal images (half of the validation split, `HeldOutParts`; Ledoit-Wolf shrinkage, so
a few hundred images suffice for 32 or 64 dimensions), and the score of an image is

    score = z(log MSE(x, reconstruction)) + z(Mahalanobis²(code))

each term standardised (z) by its mean and spread on those same held-out images, so neither
dominates by its units. MSE rather than the training loss: it does not grow with the ink of a
binary image the way cross-entropy does; its log, because errors spread over orders of
magnitude. The code term stays linear (it is the Gaussian's negative log-density up to a
constant): a log would reward codes at the very centre without bound, so that an input whose
code lands on the mean (noise can) would look the most normal of all. Before fitting, `score`
is the model's own reconstruction score.
The other half of the validation split calibrates the anomaly threshold (a percentile of the
score): a percentile of scores on the fitting images themselves would flag fewer normal images
than it promises.

The statistics are the non-trainable weights of an `AnomalyScore` layer that every model holds
(`model.anomaly_score`), so they are saved in `.keras` files and exported with the model; the
model's `score` and `fit_anomaly_score` hand it their reconstructions and codes.

On one-class MNIST the sum ranked better than either term alone; it was chosen on the train
split (held-out normal digits against the other digits' train images, which one-class training
never reads), not on test labels.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops
from sklearn.covariance import LedoitWolf

from convae_tf.models import losses

# Keeps the logs finite for a perfect reconstruction or a code at the mean.
EPSILON = 1e-12
# Held-out images used to fit: enough for the covariance of a 64-d code, and bounded in memory.
FIT_IMAGES = 10_000
# Fewer held-out images cannot be split into a fit part and a calibration part that both mean
# something (a covariance and a percentile from a handful of images each).
MIN_IMAGES_TO_SPLIT = 20
# The largest code whose Gaussian is fitted and stored. Its precision matrix grows with the
# square of the code: a photo denoiser's feature-map code (e.g. 16×16×32 = 8192 values on
# 64×64 crops) would carry 67M parameters of statistics, far more than the network, and a few
# thousand held-out images cannot estimate them. Above this, `score` stays the model's own
# reconstruction score.
MAX_FITTED_CODE = 1024


def per_image_mse(images, logits):
    """Mean squared error of each image's reconstruction (sigmoid of the logits), (batch,):
    the models' "mse" reconstruction error."""
    return losses.reconstruction_error(ops.cast(images, "float32"), logits, "mse", "mean")


def mahalanobis(codes, location, precision):
    """Squared Mahalanobis distance of each code, (batch,)."""
    centred = codes - location
    return ops.sum(ops.matmul(centred, precision) * centred, axis=-1)


def combined(mse, distance, scales):
    """z(log mse) + z(distance), with scales = (mean, std) of each on normal data."""
    log_mse = ops.log(mse + EPSILON)
    return (log_mse - scales[0]) / scales[1] + (distance - scales[2]) / scales[3]


def fit_statistics(codes: np.ndarray, mse: np.ndarray) -> dict[str, np.ndarray]:
    """The score's statistics from the codes and reconstruction MSEs of normal images."""
    covariance = LedoitWolf().fit(codes.astype(np.float64))
    distance = covariance.mahalanobis(codes.astype(np.float64))
    terms = [np.log(mse.astype(np.float64) + EPSILON), distance]
    scales = [value for term in terms for value in (term.mean(), max(term.std(), 1e-6))]
    return {
        "location": covariance.location_.astype(np.float32),
        "precision": covariance.precision_.astype(np.float32),
        "scales": np.asarray(scales, np.float32),
    }


@dataclasses.dataclass(frozen=True)
class HeldOutParts:
    """Which of `count` held-out normal images (the validation split, in its fixed order) fit
    the score and which calibrate its threshold; training, export and evaluate all split them
    through this, so the threshold is a percentile of scores the statistics never saw.

    Image i fits the score when i is even and i < 2 · FIT_IMAGES; every other one calibrates
    the threshold. Alternate positions rather than halves: images stored in class or time
    order (a user's npz) would otherwise fit on one kind of normal image and calibrate on
    another. With fewer than MIN_IMAGES_TO_SPLIT images both parts are all of them (`shared`):
    the threshold is then optimistic, and every report says so.

    A run trained on crops holds out `per_image` crops of each validation image, in a row:
    the crops of one image all go to the same part (those of even-numbered images fit), since
    crops of one photo, which may overlap, are no independent check of each other. Both parts
    are then all of them also when the crops come from a single image."""

    count: int
    per_image: int = 1

    @property
    def shared(self) -> bool:
        return self.count < MIN_IMAGES_TO_SPLIT or self.count <= self.per_image

    def is_fit(self, index):
        """Whether the image at `index` fits the score (numpy or tf integers, elementwise)."""
        image = index // self.per_image
        return (image % 2 == 0) & (image < 2 * self._fit_images())

    def _fit_images(self) -> int:
        """The images whose crops fit: at most FIT_IMAGES crops in all (at least one image)."""
        return max(1, FIT_IMAGES // self.per_image)

    def fit_indices(self) -> np.ndarray:
        indices = np.arange(self.count)
        return indices if self.shared else indices[self.is_fit(indices)]

    def calibration_indices(self) -> np.ndarray:
        indices = np.arange(self.count)
        return indices if self.shared else indices[~self.is_fit(indices)]

    def fit(self, examples):
        """The fit part of `examples`, a tf.data.Dataset of the held-out images one by one."""
        return self._part(examples, True).take(len(self.fit_indices()))

    def calibration(self, examples):
        """The calibration part of `examples` (as `fit`), in order."""
        return self._part(examples, False)

    def _part(self, examples, fit: bool):
        if self.shared:
            return examples
        chosen = examples.enumerate().filter(lambda i, _: self.is_fit(i) == fit)
        return chosen.map(lambda _, example: example)

    def _held_out(self) -> str:
        if self.per_image == 1:
            return "validation images"
        return f"validation crops ({self.per_image} per image)"

    def _or_one_image(self) -> str:
        return "" if self.per_image == 1 else ", or the crops of one image"

    def describe(self) -> str:
        """How the score was fitted, for the training log."""
        fit = len(self.fit_indices())
        if self.shared:
            return (
                f"fitted on all {fit} {self._held_out()}: too few (< {MIN_IMAGES_TO_SPLIT}"
                f"{self._or_one_image()}) to hold some out, so the threshold is calibrated on "
                "the same images (optimistic)"
            )
        held_out, positions = "validation images", "even positions"
        if self.per_image > 1:
            held_out = "validation crops"
            positions = f"{self.per_image} per image, those of even-numbered images"
        return (
            f"fitted on {fit} of {self.count} {held_out} ({positions}); the other "
            f"{len(self.calibration_indices())} calibrate the threshold"
        )

    def calibration_method(self) -> str:
        """Where the threshold's images come from, for model_card.json and metrics.json."""
        if self.shared:
            return (
                f"the same {self.count} {self._held_out()} the score was fitted on (fewer than "
                f"{MIN_IMAGES_TO_SPLIT} held out{self._or_one_image()}): optimistic"
            )
        if self.per_image > 1:
            return (
                "validation split (held-out normal training data), the crops the score was not "
                "fitted on: those of odd-numbered images, and every crop from "
                f"{2 * self._fit_images() * self.per_image} on"
            )
        return (
            "validation split (held-out normal training data), the images the score was not "
            f"fitted on: odd positions, and every position from {2 * FIT_IMAGES} on"
        )


# The fitted statistics, in the order the layer creates (and saves) them.
STATISTICS = ("location", "precision", "scales", "fitted")


@keras.saving.register_keras_serializable(package="convae_tf")
class AnomalyScore(keras.layers.Layer):
    """The fitted score of a model with a code of `latent_dim` values: its statistics as
    non-trainable weights, zero (unfitted) until `fit`. A code of more than MAX_FITTED_CODE
    values gets no location nor precision (`has_code_statistics` is False): `fit` leaves
    it unfitted and the score is the fallback.

    Called as `layer(images, logits, codes, fallback)` → (batch,): the fitted score of images
    whose reconstruction logits and codes are given, or, before fitting, `fallback` (the
    model's own reconstruction score)."""

    def __init__(self, latent_dim: int, **kwargs):
        # float32 under a mixed-precision policy: the statistics are fitted in float64 and the
        # score's terms are standardised differences, which bfloat16 would round away.
        super().__init__(**{"dtype": "float32", **kwargs})
        self.latent_dim = int(latent_dim)
        self.location = self.precision = None
        if self.latent_dim <= MAX_FITTED_CODE:
            self._add_code_statistics()
        frozen = {"trainable": False, "initializer": "zeros"}
        self.scales = self.add_weight(shape=(4,), name="scales", **frozen)
        self.fitted = self.add_weight(shape=(), name="fitted", **frozen)
        self.built = True
        self._loaded_by_model = False

    def _add_code_statistics(self) -> None:
        # Also called on a built layer, to load a file saved with them (`load_statistics`):
        # unlocked as Keras's own `_untrack_variable` does.
        locked = self._tracker.locked
        self._tracker.unlock()
        frozen = {"trainable": False, "initializer": "zeros"}
        size = self.latent_dim
        self.location = self.add_weight(shape=(size,), name="location", **frozen)
        self.precision = self.add_weight(shape=(size, size), name="precision", **frozen)
        if locked:
            self._tracker.lock()

    @property
    def has_code_statistics(self) -> bool:
        """Whether the layer holds (and `fit` fits) the code's Gaussian: codes of at most
        MAX_FITTED_CODE values, or a file saved with them."""
        return self.location is not None

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}

    def call(self, images, logits, codes, fallback):
        if not self.has_code_statistics:
            return fallback
        fitted = combined(
            per_image_mse(images, logits),
            mahalanobis(codes, self.location, self.precision),
            self.scales,
        )
        # A select, not a branch: both are cheap, and converters handle it everywhere.
        return ops.where(self.fitted > 0.5, fitted, fallback)

    def fit(self, batches) -> None:
        """Fits the statistics to held-out normal images, given as (images, logits, codes)
        batches (at least two images in all). Without code statistics, nothing to fit."""
        if not self.has_code_statistics:
            return
        codes, mse = [], []
        for images, logits, batch_codes in batches:
            codes.append(ops.convert_to_numpy(batch_codes))
            mse.append(ops.convert_to_numpy(per_image_mse(images, logits)))
        self.set_statistics(fit_statistics(np.concatenate(codes), np.concatenate(mse)))

    def set_statistics(self, statistics: dict[str, np.ndarray]) -> None:
        """Assigns `fit_statistics`'s values and marks the score fitted."""
        for name in ("location", "precision", "scales"):
            getattr(self, name).assign(statistics[name])
        self.fitted.assign(1.0)

    # ------------------------------------------------------- files saved before this layer
    def load_statistics(self, values) -> None:
        """Loads the statistics from a file that held them as model variables, in the order
        of `STATISTICS` (see `split_legacy_store`), or a file saved with the statistics of a
        code larger than MAX_FITTED_CODE (which keeps them, and its fitted score)."""
        if not self.has_code_statistics:
            self._add_code_statistics()
        for name, value in zip(STATISTICS, values, strict=True):
            getattr(self, name).assign(value)
        self._loaded_by_model = True

    def load_own_variables(self, store):
        if self._loaded_by_model and not list(store.keys()):
            return  # an older file: the model loaded them (`load_statistics`)
        if not self.has_code_statistics and len(store.keys()) == len(STATISTICS):
            # Saved before codes above MAX_FITTED_CODE went without their statistics.
            self.load_statistics([store[str(i)] for i in range(len(STATISTICS))])
            return
        super().load_own_variables(store)


def split_legacy_store(store, own_variables: int):
    """(the model's own part of `store`, the score's statistics or None).

    Models saved before the score had its own layer held its four statistics as their own
    last variables (created last, in `build`, and non-trainable ones are saved after the
    trainable ones): a store with exactly that many more entries than the model now owns is
    such a file."""
    if len(store.keys()) != own_variables + len(STATISTICS):
        return store, None
    own = {str(i): store[str(i)] for i in range(own_variables)}
    return own, [store[str(own_variables + i)] for i in range(len(STATISTICS))]
