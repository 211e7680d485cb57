"""The applications of a trained autoencoder, each measured on a split held in memory.

Every function takes the model and numpy images in [0, 1], returns one JSON-ready section of
`metrics.json` and writes that section's figures into `figures_dir` (their paths are appended
to `written`). `evaluate.py` decides which sections apply.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from scipy.special import expit

from convae_tf.evaluation import likelihood, metrics, probe
from convae_tf.evaluation.splits import in_batches
from convae_tf.models import corruptions
from convae_tf.utils import figures, image_quality, progress

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


def _restore(model, images: np.ndarray) -> np.ndarray:
    return in_batches(lambda x: model(x, training=False), images)


# ---------------------------------------------------------------------------- reconstruction
def reconstruction(model, images, figures_dir: Path, written: list) -> dict:
    logits = in_batches(lambda x: model.reconstruct_logits(x, training=False), images)
    outputs = expit(logits.astype(np.float64)).astype(np.float32)
    ssim = np.concatenate(
        [
            metrics.per_image_ssim(images[i : i + 512], outputs[i : i + 512])
            for i in range(0, len(images), 512)
        ]
    )
    written.append(
        figures.reconstructions(
            images[:SHOWN], outputs[:SHOWN], figures_dir / "eval_reconstructions.png"
        )
    )
    return {
        "mse": float(np.mean(image_quality.per_image_mse(outputs, images))),
        "bce": float(np.mean(metrics.per_image_bce(images, logits))),
        "psnr": float(np.mean(image_quality.per_image_psnr(outputs, images))),
        "ssim": float(np.mean(ssim)),
        "ssim_filter_size": metrics.ssim_filter_size(*images.shape[1:3]),
    }


# ------------------------------------------------------------------------ denoising/inpainting
def denoising(model, images, seed: int, figures_dir: Path, written: list) -> dict:
    section = {}
    for index, (name, strength) in enumerate(DENOISING.items()):
        noisy = corruptions.corrupt(images, tf.constant([seed, index]), **strength).numpy()
        restored = _restore(model, noisy)
        section[name] = {
            "corruption": strength,
            "psnr_noisy": float(np.mean(image_quality.per_image_psnr(noisy, images))),
            "psnr_denoised": float(np.mean(image_quality.per_image_psnr(restored, images))),
        }
        written.append(
            figures.restoration(
                images[:SHOWN],
                noisy[:SHOWN],
                restored[:SHOWN],
                figures_dir / f"eval_denoising_{name}.png",
                title=f"denoising, {name}",
            )
        )
    return section


def inpainting(model, images, seed: int, figures_dir: Path, written: list) -> dict:
    """One rectangular hole per image, filled by `model.inpaint` (the known pixels kept);
    PSNR over the hole's pixels only, before (the hole at 0) and after."""
    holes_seed = tf.constant([seed, len(DENOISING)])
    missing = corruptions.rectangle_mask(images, holes_seed, **INPAINTING).numpy()
    masked = images * (1.0 - missing)
    restored = np.concatenate(
        [
            np.asarray(model.inpaint(images[i : i + 256], missing[i : i + 256]))
            for i in range(0, len(images), 256)
        ]
    )
    hole = missing > 0
    written.append(
        figures.restoration(
            images[:SHOWN],
            masked[:SHOWN],
            restored[:SHOWN],
            figures_dir / "eval_inpainting.png",
            title="inpainting (one rectangular hole)",
            holes=hole[:SHOWN],
        )
    )
    return {
        "masks": {"rectangles": INPAINTING["count"], "rectangle_size": [0.25, 0.5]},
        "masked_fraction": float(np.mean(hole)),
        "psnr_masked_before": metrics.masked_psnr(masked, images, hole),
        "psnr_masked_after": metrics.masked_psnr(restored, images, hole),
    }


# ------------------------------------------------------------------------------------ VAE
def vae(model, images, labels, k: int, max_examples: int, seed: int, figures_dir, written):
    moments = [model.encode(tf.constant(images[i : i + 512])) for i in range(0, len(images), 512)]
    mean = np.concatenate([np.asarray(m) for m, _ in moments])
    log_var = np.concatenate([np.asarray(v) for _, v in moments])
    if model.prior_components:
        # A VampPrior's KL has no per-dimension split: `kl` is the model's own estimate, and
        # the traversal ranks dimensions by how much their posterior means vary.
        kl = np.mean(np.concatenate([np.asarray(model.kl(m)) for m in moments]))
        kl_section = {"kl": float(kl)}
        usage, usage_name = np.var(mean, axis=0), "var"
    else:
        kl_per_dim = metrics.gaussian_kl_per_dim(mean, log_var)
        kl_section = {
            "kl": float(np.sum(kl_per_dim)),
            "kl_per_dim": [float(v) for v in kl_per_dim],
        }
        usage, usage_name = kl_per_dim, "KL"
    subset = images[:max_examples]
    counter = progress.Counter(len(subset), f"evaluate: VAE bounds, k={k}")
    neg_elbo, nll_is = likelihood.bounds(model, subset, k, seed=seed, progress=counter.update)
    _vae_figures(model, mean, labels, usage, usage_name, seed, figures_dir, written)
    return {
        "neg_elbo": float(np.mean(neg_elbo)),
        "nll_is": float(np.mean(nll_is)),
        "k": int(k),
        "bound_examples": len(subset),
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
def anomaly(
    model,
    images,
    labels,
    normal_classes,
    calibration_images,
    percentile: float,
    figures_dir: Path,
    written: list,
    *,
    calibration_method: str,
) -> dict:
    """Score = the model's `score` (higher: more anomalous; fitted after training, see
    models/anomaly.py); anomalies are the positive class. `auroc_reconstruction` is the AUROC
    of the model's own reconstruction score, for comparison. The threshold is the `percentile`
    of the scores of `calibration_images` (normal; `calibration_method` says which)."""
    scores = in_batches(model.score, images).astype(np.float64)
    is_anomaly = ~np.isin(labels, normal_classes)
    reconstruction = in_batches(model.reconstruction_score, images).astype(np.float64)
    calibration_scores = in_batches(model.score, calibration_images).astype(np.float64)
    threshold = metrics.percentile_threshold(calibration_scores, percentile)
    fpr, tpr, _ = metrics.roc_curve(scores, is_anomaly)
    area = metrics.auroc(scores, is_anomaly)
    written.append(
        figures.score_histogram(
            scores[~is_anomaly],
            scores[is_anomaly],
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
        "auprc": metrics.auprc(scores, is_anomaly),
        "anomaly_fraction": float(np.mean(is_anomaly)),  # the AUPRC of a random score
        "threshold": threshold,
        "threshold_percentile": float(percentile),
        "calibration": calibration_method,
        "calibration_examples": len(calibration_scores),
        **metrics.precision_recall_at(scores, is_anomaly, threshold),
    }


# ------------------------------------------------------------------------------ probe
def linear_probe(model, train_images, train_labels, images, labels, num_classes: int) -> dict:
    def codes(x):
        return in_batches(model.code, x).astype(np.float64)

    majority = np.bincount(train_labels, minlength=num_classes).argmax()
    return {
        "code_accuracy": probe.probe_accuracy(
            codes(train_images), train_labels, codes(images), labels
        ),
        "pixel_accuracy": probe.probe_accuracy(train_images, train_labels, images, labels),
        "majority_accuracy": float(np.mean(labels == majority)),
        "train_examples": len(train_images),
        "test_examples": len(images),
        "classifier": probe.DESCRIPTION,
    }
