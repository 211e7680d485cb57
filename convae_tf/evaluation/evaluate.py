"""Measure a trained run on the five applications: writes `DIR/metrics.json` and PNG figures
under `DIR/figures/` (names starting with `eval_`, next to training's own grids).

    python -m convae_tf.evaluate --workdir=runs/vae-sprites
    python -m convae_tf.evaluate --workdir=runs/vae-sprites --split=validation --iw_samples=500

Sections of metrics.json and when each is written (absent otherwise):
    reconstruction  always
    denoising       always (every model; a plain autoencoder is the baseline of a DAE)
    inpainting      always
    vae             the model is a VAE (its encoder gives a posterior (mean, log_var))
    anomaly         the run was trained with --normal_classes, the split has labels and holds
                    both normal and anomalous examples
    probe           the split has labels of at least two classes and is not train (the probe
                    trains there)
See the README ("Evaluation") for every key.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import ml_collections
import numpy as np
from ml_collections.config_dict import placeholder

from convae_tf import cli, errors
from convae_tf.artifacts import run_folder
from convae_tf.evaluation import applications, splits
from convae_tf.models import anomaly
from convae_tf.utils import figures, files, progress

SCHEMA_VERSION = 1


# What to measure and how: name: (default, help); the flags of the CLI are made from it.
FIELDS: cli.Fields = {
    "split": ("test", f"Split to measure: {', '.join(splits.SPLITS)}."),
    "dataset": (placeholder(str), "Dataset spec (default: the run's own)."),
    "data_dir": (placeholder(str), "TFDS data directory (default: the run's own)."),
    "max_examples": (placeholder(int), "Measure the first N examples only (default: all)."),
    "iw_samples": (100, "VAE: posterior samples k of the importance-weighted NLL."),
    "iw_examples": (1000, "VAE: images (the first N) for neg_elbo and nll_is."),
    "anomaly_percentile": (
        95.0,
        "Anomaly threshold: this percentile of the validation (normal) scores.",
    ),
    "probe_examples": (
        2000,
        "Linear probe: train-split examples it trains on (0: the whole train split).",
    ),
    "seed": (0, "Seed of the corruptions, samples and probe subsample."),
}


def get_config() -> ml_collections.ConfigDict:
    """The evaluation defaults, a new ConfigDict on every call."""
    return cli.config_from_fields(FIELDS)


def validate(options: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    cli.check_fields(options, FIELDS, "the options")
    if options.split not in splits.SPLITS:
        raise errors.ConfigError(
            f"--split={options.split!r} is not valid; choose one of {', '.join(splits.SPLITS)}"
        )
    for name in ("max_examples", "iw_samples", "iw_examples"):
        if options[name] is not None and options[name] < 1:
            raise errors.ConfigError(f"--{name}={options[name]} must be at least 1")
    if options.probe_examples < 0:
        raise errors.ConfigError(
            f"--probe_examples={options.probe_examples} must be at least 1, or 0 for the whole "
            "train split"
        )
    if not 0 <= options.anomaly_percentile <= 100:
        raise errors.ConfigError(
            f"--anomaly_percentile={options.anomaly_percentile} must be in [0, 100]"
        )
    return options


def evaluate(workdir, options: ml_collections.ConfigDict | None = None) -> dict:
    """Computes every section that applies, writes metrics.json and the figures, returns the
    metrics. `options`: `get_config()`, with changes."""
    options = validate(options or get_config())
    started = time.time()
    workdir = Path(workdir)
    run = run_folder.load_run(workdir)
    model = run.model
    source = splits.load_source(run, options.dataset, options.data_dir)
    examples = splits.split_examples(run, source, options.split)
    images, labels = splits.to_arrays(examples, limit=options.max_examples)
    progress.stage(
        f"evaluate: {len(images)} {options.split} {_examples_named(run)} of {source.spec}; "
        "reconstruction, denoising, inpainting"
    )
    figures_dir = workdir / "figures"
    written: list[Path] = []

    results = {
        "schema_version": SCHEMA_VERSION,
        "model": run.config.get("train", {}).get("model", type(model).__name__),
        "dataset": source.spec,
        "split": options.split,
        "num_examples": len(images),
        "image_shape": list(run.image_shape),
        "seed": options.seed,
        "reconstruction": applications.reconstruction(model, images, figures_dir, written),
        "denoising": applications.denoising(model, images, options.seed, figures_dir, written),
        "inpainting": applications.inpainting(model, images, options.seed, figures_dir, written),
    }
    if model.is_variational:
        results["vae"] = _vae_bounds(model, images, labels, options, figures_dir, written)
    if _normal_and_anomalous(labels, run.normal_classes):
        results["anomaly"] = _anomaly_scores(
            run, source, images, labels, options, figures_dir, written
        )
    # The probe trains on the train split, so it is measured elsewhere, on several classes.
    if labels is not None and options.split != "train" and len(np.unique(labels)) >= 2:
        results["probe"] = _linear_probe(run, source, images, labels, options)
    written += _overview_figures(model, images, labels, workdir)

    results["figures"] = sorted(path.name for path in written)
    results["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
    results["seconds"] = round(time.time() - started, 1)
    files.save_json(results, workdir / "metrics.json")
    return results


def _examples_named(run) -> str:
    """What the split's examples are: images, or crops of them."""
    if splits.options_of(run).crop is None:
        return "images"
    return f"crops ({splits.crops_per_image(run)} per image)"


def _vae_bounds(model, images, labels, options, figures_dir: Path, written: list) -> dict:
    progress.stage(
        f"evaluate: VAE bounds, k={options.iw_samples} posterior samples on "
        f"{min(options.iw_examples, len(images))} images"
    )
    return applications.vae(
        model,
        images,
        labels,
        options.iw_samples,
        options.iw_examples,
        options.seed,
        figures_dir,
        written,
    )


def _normal_and_anomalous(labels, normal_classes) -> bool:
    """Whether the split has labels and holds both normal and anomalous examples."""
    if labels is None or normal_classes is None:
        return False
    return 0 < np.isin(labels, normal_classes).sum() < len(labels)


def _anomaly_scores(run, source, images, labels, options, figures_dir: Path, written: list):
    """The anomaly section; its threshold is calibrated on the validation images that the
    score was not fitted on (anomaly.HeldOutParts), and the false positive rate it reaches is
    measured on the test split's normal images."""
    progress.stage("evaluate: anomaly scores")
    parts = anomaly.HeldOutParts(splits.validation_count(run, source), splits.crops_per_image(run))
    validation = splits.split_examples(run, source, "validation")
    calibration, _ = splits.to_arrays(parts.calibration(validation))
    section = applications.anomaly(
        run.model,
        images,
        labels,
        run.normal_classes,
        calibration,
        options.anomaly_percentile,
        figures_dir,
        written,
        calibration_method=parts.calibration_method(),
    )
    section["fit_examples"] = len(parts.fit_indices())
    return section | _test_false_positives(run, source, options, section)


def _test_false_positives(run, source, options, section: dict) -> dict:
    """The false positive rate asked for (100 − percentile) and the one reached on the test
    split's normal images: those measured, when the split measured is test."""
    asked = {"asked_fpr": round(1.0 - options.anomaly_percentile / 100.0, 6)}
    if options.split == "test":
        return asked | {
            "test_fpr": section["false_positive_rate"],
            "test_normal_examples": section["num_normal"],
        }
    test = splits.normal_examples(splits.split_examples(run, source, "test"), run.normal_classes)
    batches = test.map(lambda ex: ex["image"]).batch(256).as_numpy_iterator()
    scores = np.concatenate([np.zeros(0), *(np.asarray(run.model.score(b)) for b in batches)])
    return asked | {
        "test_fpr": float(np.mean(scores > section["threshold"])) if len(scores) else None,
        "test_normal_examples": len(scores),
    }


def _linear_probe(run, source, images, labels, options) -> dict:
    """The probe section: a linear classifier on the codes of a uniform train-split sample."""
    progress.stage("evaluate: linear probe on the codes, trained on the train split")
    train_count = splits.train_count(run, source)
    train_images, train_labels, _ = splits.sample_train(
        run, source, options.probe_examples or train_count, seed=options.seed
    )
    probe = applications.linear_probe(
        run.model, train_images, train_labels, images, labels, source.num_classes
    )
    probe["train_sample"] = (
        f"{len(train_images)} of the {train_count} train-split examples, drawn uniformly "
        f"without replacement (seed {options.seed}); tested on the {options.split} split"
    )
    return probe


def _overview_figures(model, images, labels, workdir: Path) -> list[Path]:
    """The codes of the first images in 2-D and, when training logged a history, its curves."""
    figures_dir = workdir / "figures"
    written = [
        figures.code_scatter(
            splits.in_batches(model.code, images[:2000]),
            None if labels is None else labels[:2000],
            figures_dir / "eval_codes_2d.png",
        )
    ]
    curves = figures.training_curves(workdir / "history.csv", figures_dir / "training_curves.png")
    return written if curves is None else [*written, curves]


def summary(results: dict) -> str:
    parts = [f"{k}={results['reconstruction'][k]:.4g}" for k in ("mse", "psnr", "ssim")]
    if "vae" in results:
        parts += [f"{k}={results['vae'][k]:.2f}" for k in ("neg_elbo", "nll_is")]
    if "anomaly" in results:
        parts.append(f"auroc={results['anomaly']['auroc']:.4f}")
    if "probe" in results:
        parts.append(f"probe={results['probe']['code_accuracy']:.3f}")
    return " ".join(parts)
