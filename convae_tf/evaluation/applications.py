"""The applications of a trained autoencoder, each measured on a split streamed batch by batch.

`measure` reads a split once, in batches of `BATCH` (`measured_batches`: each image with its
corrupted copies), and hands every batch to every part: each part keeps what its section needs
(per-image values, running sums, the codes of the VAE posterior, the first `SHOWN` images of a
figure) and lets the images go, so memory holds a batch, never the split. A part's `section`
then returns one JSON-ready section of `metrics.json` and writes its figures into `figures_dir`
(their paths appended to `written`). `evaluate.py` decides which sections apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scipy.special import expit

from convae_tf.errors import ConfigError
from convae_tf.evaluation import metrics, probe
from convae_tf.evaluation.splits import in_batches
from convae_tf.models import corruptions
from convae_tf.utils import figures, image_quality

# Corruptions of the denoising benchmark, by their stable key in metrics.json. Gaussian σ 0.4 is
# the keras.io denoising example's noise factor; 0.2 a milder level; salt-and-pepper and masking
# noise are Vincent et al. (2010)'s other two corruptions.
DENOISING = {
    "gaussian_0.2": {"gaussian_std": 0.2},
    "gaussian_0.4": {"gaussian_std": 0.4},
    "salt_pepper_0.1": {"salt_pepper": 0.1},
    "masking_0.25": {"masking": 0.25},
}
# One hole per image, each side 25–50 % of the image's: large enough to hide part of a digit or
# sprite, small enough that the context constrains what belongs there.
INPAINTING = {"count": 1, "min_size": 0.25, "max_size": 0.5}
SHOWN = 8  # examples per image-grid figure
BATCH = 256  # images measured at once: what evaluate's memory holds of the split


# ------------------------------------------------------------------------------- the stream
def measured_batches(examples: tf.data.Dataset, seed: int) -> Iterator[dict]:
    """The examples in numpy batches of BATCH: {"image", "label" (when labelled), "noisy":
    {name: the images with that DENOISING corruption}, "hole": (B, H, W, 1), 1 where the
    INPAINTING mask hides a pixel}."""
    return with_corruptions(examples, seed).batch(BATCH).as_numpy_iterator()


def with_corruptions(examples: tf.data.Dataset, seed: int) -> tf.data.Dataset:
    """Each example with its corrupted copies ("noisy", "hole"), each drawn from the image's
    own seed (`corruption_seed`): an image's noise and hole do not depend on the batch it is
    measured in, nor on how many images are measured."""

    def corrupt(position, example):
        image = example["image"]
        noisy = {
            name: corruptions.corrupt(image, corruption_seed(seed, index, position), **strength)
            for index, (name, strength) in enumerate(DENOISING.items())
        }
        hole_seed = corruption_seed(seed, len(DENOISING), position)
        hole = corruptions.rectangle_mask(image, hole_seed, **INPAINTING)
        return {**example, "noisy": noisy, "hole": hole}

    return examples.enumerate().map(corrupt, num_parallel_calls=tf.data.AUTOTUNE)


def corruption_seed(seed: int, index: int, position) -> tf.Tensor:
    """The seed of corruption `index` (DENOISING's order, then the inpainting hole) of the
    image at `position` in the split: (seed, index) folded with the position."""
    pair = tf.constant([seed, index], tf.int64)
    return tf.random.experimental.stateless_fold_in(pair, tf.cast(position, tf.int64))


def measure(batches: Iterable[dict], parts: Iterable) -> tuple[int, np.ndarray | None]:
    """Hands every batch to every part's `add`; returns (the images measured, their labels
    or None)."""
    parts = list(parts)
    count, labels = 0, []
    for batch in batches:
        for part in parts:
            part.add(batch)
        count += len(batch["image"])
        if "label" in batch:
            labels.append(batch["label"])
    if not count:
        raise ConfigError("the split holds no example")
    return count, (np.concatenate(labels) if labels else None)


def measure_arrays(parts: Iterable, images: np.ndarray, seed: int) -> int:
    """`measure` on images held in memory (a reference model measured as evaluate measures a
    split: the same batches, the same corruptions); returns the count."""
    examples = tf.data.Dataset.from_tensor_slices({"image": images})
    return measure(measured_batches(examples, seed), parts)[0]


def _numpy(outputs) -> np.ndarray:
    return keras.ops.convert_to_numpy(outputs)


class _Shown:
    """The first SHOWN rows of arrays given batch by batch, by name: a figure's examples."""

    def __init__(self):
        self.rows: dict[str, np.ndarray] = {}

    def add(self, **arrays) -> None:
        for name, values in arrays.items():
            kept = self.rows.get(name, values[:0])
            self.rows[name] = np.concatenate([kept, values[: SHOWN - len(kept)]])


def _means(values: dict[str, list]) -> dict[str, float]:
    """The mean of each named list of per-image arrays."""
    return {name: float(np.mean(np.concatenate(arrays))) for name, arrays in values.items()}


# ---------------------------------------------------------------------------- reconstruction
class Reconstruction:
    """Per-image MSE, BCE (from the logits), PSNR and SSIM, averaged over the split."""

    def __init__(self, model):
        self.model = model
        self.values = {"mse": [], "bce": [], "psnr": [], "ssim": []}
        self.shown = _Shown()
        self.size = None

    def add(self, batch: dict) -> None:
        images = batch["image"]
        logits = _numpy(self.model.reconstruct_logits(tf.constant(images), training=False))
        outputs = expit(logits.astype(np.float64)).astype(np.float32)
        self.values["mse"].append(image_quality.per_image_mse(outputs, images))
        self.values["bce"].append(metrics.per_image_bce(images, logits))
        self.values["psnr"].append(image_quality.per_image_psnr(outputs, images))
        self.values["ssim"].append(metrics.per_image_ssim(images, outputs))
        self.shown.add(input=images, output=outputs)
        self.size = images.shape[1:3]

    def section(self, figures_dir: Path, written: list) -> dict:
        path = figures_dir / "eval_reconstructions.png"
        written.append(figures.reconstructions(*self.shown.rows.values(), path))
        return {**_means(self.values), "ssim_filter_size": metrics.ssim_filter_size(*self.size)}


# ------------------------------------------------------------------------ denoising/inpainting
class Denoising:
    """PSNR against the clean image of each DENOISING corruption's noisy and restored images,
    averaged over the split."""

    def __init__(self, model):
        self.model = model
        self.psnr = {name: {"psnr_noisy": [], "psnr_denoised": []} for name in DENOISING}
        self.shown = {name: _Shown() for name in DENOISING}

    def add(self, batch: dict) -> None:
        clean = batch["image"]
        for name, noisy in batch["noisy"].items():
            restored = _numpy(self.model(tf.constant(noisy), training=False))
            self.psnr[name]["psnr_noisy"].append(image_quality.per_image_psnr(noisy, clean))
            self.psnr[name]["psnr_denoised"].append(image_quality.per_image_psnr(restored, clean))
            self.shown[name].add(clean=clean, noisy=noisy, restored=restored)

    def section(self, figures_dir: Path, written: list) -> dict:
        section = {}
        for name, strength in DENOISING.items():
            section[name] = {"corruption": strength, **_means(self.psnr[name])}
            written.append(
                figures.restoration(
                    *self.shown[name].rows.values(),
                    figures_dir / f"eval_denoising_{name}.png",
                    title=f"denoising, {name}",
                )
            )
        return section


def denoising(model, images: np.ndarray, seed: int, figures_dir: Path, written: list) -> dict:
    """The denoising section of images held in memory, with evaluate's noise."""
    part = Denoising(model)
    measure_arrays([part], images, seed)
    return part.section(figures_dir, written)


class Inpainting:
    """One rectangular hole per image, filled by `model.inpaint` (the known pixels kept);
    PSNR over the hole's pixels only, before (the hole at 0) and after, of the squared
    error pooled over every hole of the split (`metrics.masked_psnr`)."""

    def __init__(self, model):
        self.model = model
        self.squared_error = {"before": 0.0, "after": 0.0}
        self.hole_values = self.hole_pixels = self.pixels = 0
        self.shown = _Shown()

    def add(self, batch: dict) -> None:
        images, missing = batch["image"], batch["hole"]
        masked = images * (1.0 - missing)
        restored = np.asarray(self.model.inpaint(images, missing))
        hole = missing > 0
        before, values = metrics.masked_squared_error(masked, images, hole)
        after, _ = metrics.masked_squared_error(restored, images, hole)
        self.squared_error["before"] += before
        self.squared_error["after"] += after
        self.hole_values += values
        self.hole_pixels += int(hole.sum())
        self.pixels += hole.size
        self.shown.add(clean=images, masked=masked, restored=restored, holes=hole)

    def section(self, figures_dir: Path, written: list) -> dict:
        clean, masked, restored, holes = self.shown.rows.values()
        written.append(
            figures.restoration(
                clean,
                masked,
                restored,
                figures_dir / "eval_inpainting.png",
                title="inpainting (one rectangular hole)",
                holes=holes,
            )
        )
        psnr = {
            f"psnr_masked_{key}": metrics.pooled_psnr(error, self.hole_values)
            for key, error in self.squared_error.items()
        }
        return {
            "masks": {"rectangles": INPAINTING["count"], "rectangle_size": [0.25, 0.5]},
            "masked_fraction": self.hole_pixels / self.pixels,
            **psnr,
        }


def inpainting(model, images: np.ndarray, seed: int, figures_dir: Path, written: list) -> dict:
    """The inpainting section of images held in memory, with evaluate's holes."""
    part = Inpainting(model)
    measure_arrays([part], images, seed)
    return part.section(figures_dir, written)


# ------------------------------------------------------------------------------------ VAE
class Posterior:
    """A VAE's posterior (mean, log_var) of every image, (N, latent_dim) each; with a
    VampPrior also the model's KL estimate of each image."""

    def __init__(self, model):
        self.model = model
        self.means, self.log_vars, self.kl = [], [], []

    def add(self, batch: dict) -> None:
        moments = self.model.encode(tf.constant(batch["image"]))
        self.means.append(np.asarray(moments[0]))
        self.log_vars.append(np.asarray(moments[1]))
        if self.model.prior_components:
            self.kl.append(np.asarray(self.model.kl(moments)))


def vae(model, posterior: Posterior, bounds, labels, k: int, seed: int, figures_dir, written):
    """The VAE section: `bounds` (neg_elbo, nll_is) per image of the first images (see
    likelihood.py), the KL and active units of the posterior of every image."""
    mean = np.concatenate(posterior.means)
    if model.prior_components:
        # A VampPrior's KL has no per-dimension split: `kl` is the model's own estimate, and
        # the traversal ranks dimensions by how much their posterior means vary.
        kl_section = {"kl": float(np.mean(np.concatenate(posterior.kl)))}
        usage, usage_name = np.var(mean, axis=0), "var"
    else:
        kl_per_dim = metrics.gaussian_kl_per_dim(mean, np.concatenate(posterior.log_vars))
        kl_section = {
            "kl": float(np.sum(kl_per_dim)),
            "kl_per_dim": [float(v) for v in kl_per_dim],
        }
        usage, usage_name = kl_per_dim, "KL"
    neg_elbo, nll_is = bounds
    _vae_figures(model, mean, labels, usage, usage_name, seed, figures_dir, written)
    return {
        "neg_elbo": float(np.mean(neg_elbo)),
        "nll_is": float(np.mean(nll_is)),
        "k": int(k),
        "bound_examples": len(neg_elbo),
        **kl_section,
        "active_units": metrics.active_units(mean),
        "active_units_threshold": 0.01,
        "latent_dim": int(mean.shape[1]),
    }


def _vae_figures(model, mean, labels, usage, usage_name, seed, figures_dir: Path, written):
    """Prior samples, a traversal of the most used dimensions (largest `usage`, a value per
    dimension, shown as `usage_name`) and an interpolation."""
    samples = np.asarray(model.sample(32, seed=seed))
    written.append(
        figures.image_grid(samples, figures_dir / "eval_vae_samples.png", title="prior samples")
    )
    # Traverse the most used dimensions around the first image's posterior mean.
    dims = np.argsort(-usage)[: min(8, len(usage))]
    values = np.linspace(-3.0, 3.0, 9)
    rows = {}
    for d in dims:
        codes = np.repeat(mean[:1], len(values), axis=0)
        codes[:, d] = values
        rows[f"z{d} ({usage_name} {usage[d]:.2f})"] = np.asarray(model.decode(tf.constant(codes)))
    written.append(
        figures.image_rows(
            rows, figures_dir / "eval_vae_traversal.png", title="latent traversal, z_d in [-3, 3]"
        )
    )
    # Interpolate between the first image and the first one of another label (else the second).
    other = 1
    if labels is not None and np.any(labels != labels[0]):
        other = int(np.flatnonzero(labels != labels[0])[0])
    other = min(other, len(mean) - 1)
    alphas = np.linspace(0.0, 1.0, 10)[:, None]
    codes = ((1 - alphas) * mean[0] + alphas * mean[other]).astype(np.float32)
    written.append(
        figures.image_rows(
            {"": np.asarray(model.decode(tf.constant(codes)))},
            figures_dir / "eval_vae_interpolation.png",
            title=f"interpolation between the posterior means of test images 0 and {other}",
        )
    )


# ---------------------------------------------------------------------------- anomaly
class Scores:
    """Each image's anomaly scores: the model's `score` and its `reconstruction_score`."""

    def __init__(self, model):
        self.model = model
        self.score, self.reconstruction = [], []

    def add(self, batch: dict) -> None:
        images = tf.constant(batch["image"])
        self.score.append(_numpy(self.model.score(images)))
        self.reconstruction.append(_numpy(self.model.reconstruction_score(images)))


def anomaly(
    scores: Scores,
    labels,
    normal_classes,
    calibration_scores,
    percentile: float,
    figures_dir: Path,
    written: list,
    *,
    calibration_method: str,
) -> dict:
    """Score = the model's `score` (higher: more anomalous; fitted after training, see
    models/anomaly.py); anomalies are the positive class. `auroc_reconstruction` is the AUROC
    of the model's own reconstruction score, for comparison. The threshold is the `percentile`
    of `calibration_scores` (of normal images; `calibration_method` says which)."""
    score = np.concatenate(scores.score).astype(np.float64)
    reconstruction = np.concatenate(scores.reconstruction).astype(np.float64)
    is_anomaly = ~np.isin(labels, normal_classes)
    calibration_scores = np.asarray(calibration_scores, np.float64)
    threshold = metrics.percentile_threshold(calibration_scores, percentile)
    fpr, tpr, _ = metrics.roc_curve(score, is_anomaly)
    area = metrics.auroc(score, is_anomaly)
    written.append(
        figures.score_histogram(
            score[~is_anomaly],
            score[is_anomaly],
            threshold,
            figures_dir / "eval_anomaly_scores.png",
        )
    )
    written.append(figures.roc(fpr, tpr, area, figures_dir / "eval_anomaly_roc.png"))
    return {
        "normal_classes": [int(c) for c in normal_classes],
        "positive_class": "anomaly",
        "num_normal": int(np.sum(~is_anomaly)),
        "num_anomalous": int(np.sum(is_anomaly)),
        "auroc": area,
        "auroc_reconstruction": metrics.auroc(reconstruction, is_anomaly),
        "auprc": metrics.auprc(score, is_anomaly),
        "anomaly_fraction": float(np.mean(is_anomaly)),  # the AUPRC of a random score
        "threshold": threshold,
        "threshold_percentile": float(percentile),
        "calibration": calibration_method,
        "calibration_examples": len(calibration_scores),
        **metrics.precision_recall_at(score, is_anomaly, threshold),
    }


# ------------------------------------------------------------------------------ probe
class LinearProbe:
    """Linear probes on the codes and on the pixels, fitted to train images when made, then
    tested batch by batch: each counts the split's images it classifies right."""

    def __init__(self, model, train_images: np.ndarray, train_labels: np.ndarray):
        self.model = model
        self.train_labels = train_labels
        self.probes = {
            "code": probe.fit(in_batches(model.code, train_images), train_labels),
            "pixel": probe.fit(train_images, train_labels),
        }
        self.correct = dict.fromkeys(self.probes, 0)

    def add(self, batch: dict) -> None:
        images = batch["image"]
        features = {"code": _numpy(self.model.code(tf.constant(images))), "pixel": images}
        for name, fitted in self.probes.items():
            self.correct[name] += probe.correct(fitted, features[name], batch["label"])

    def section(self, labels: np.ndarray, num_classes: int) -> dict:
        """The probe section, `labels` those of every image tested."""
        majority = np.bincount(self.train_labels, minlength=num_classes).argmax()
        return {
            "code_accuracy": self.correct["code"] / len(labels),
            "pixel_accuracy": self.correct["pixel"] / len(labels),
            "majority_accuracy": float(np.mean(labels == majority)),
            "train_examples": len(self.train_labels),
            "test_examples": len(labels),
            "classifier": probe.DESCRIPTION,
        }


# ---------------------------------------------------------------------------- overview
class Codes:
    """The codes of the first `count` images (the overview's scatter)."""

    def __init__(self, model, count: int):
        self.model, self.count = model, count
        self.parts: list[np.ndarray] = []
        self.kept = 0

    def add(self, batch: dict) -> None:
        images = batch["image"][: self.count - self.kept]
        if len(images):
            self.parts.append(_numpy(self.model.code(tf.constant(images))))
            self.kept += len(images)

    @property
    def codes(self) -> np.ndarray:
        return np.concatenate(self.parts)
