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
from convae_tf.evaluation import applications, likelihood, splits
from convae_tf.models import anomaly
from convae_tf.utils import figures, files, progress

SCHEMA_VERSION = 1
OVERVIEW_CODES = 2000  # images whose codes the overview's scatter shows (the first ones)


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
        "Anomaly threshold: this percentile of the scores of the validation (normal) images "
        "that the score was not fitted on.",
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
    metrics. `options`: `get_config()`, with changes. The split is read once, batch by batch
    (applications.measure), so memory does not grow with its size."""
    options = validate(options or get_config())
    started = time.time()
    workdir = Path(workdir)
    run = run_folder.load_run(workdir)
    model = run.model
    source = splits.load_source(run, options.dataset, options.data_dir)
    examples = splits.split_examples(run, source, options.split)
    if options.max_examples is not None:
        examples = examples.take(options.max_examples)
    parts = _parts(run, source, options)
    count, labels = _measure(run, source, examples, parts, options)
    figures_dir = workdir / "figures"
    written: list[Path] = []

    results = {
        "schema_version": SCHEMA_VERSION,
        "model": run.config.get("train", {}).get("model", type(model).__name__),
        "dataset": source.spec,
        "split": options.split,
        "num_examples": count,
        "image_shape": list(run.image_shape),
        "seed": options.seed,
    }
    for name in ("reconstruction", "denoising", "inpainting"):
        results[name] = parts[name].section(figures_dir, written)
    if model.is_variational:
        results["vae"] = _vae_section(
            model, examples, parts["vae"], labels, count, options, figures_dir, written
        )
    if "anomaly" in parts and _normal_and_anomalous(labels, run.normal_classes):
        results["anomaly"] = _anomaly_section(
            run, source, parts["anomaly"], labels, options, figures_dir, written
        )
    # The probe trains on the train split, so it is measured elsewhere, on several classes.
    if "probe" in parts and len(np.unique(labels)) >= 2:
        results["probe"] = _probe_section(run, source, parts["probe"], labels, options)
    written += _overview_figures(parts["codes"].codes, labels, workdir)

    results["figures"] = sorted(path.name for path in written)
    results["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
    results["seconds"] = round(time.time() - started, 1)
    files.save_json(results, workdir / "metrics.json")
    return results


def _parts(run, source, options) -> dict:
    """What each batch of the split is measured by (applications' parts), by name. The linear
    probe is fitted here, before the split is read, when the split may have two classes."""
    model = run.model
    parts = {
        "reconstruction": applications.Reconstruction(model),
        "denoising": applications.Denoising(model),
        "inpainting": applications.Inpainting(model),
        "codes": applications.Codes(model, OVERVIEW_CODES),
    }
    if model.is_variational:
        parts["vae"] = applications.Posterior(model)
    if run.normal_classes is not None and source.has_labels:
        parts["anomaly"] = applications.Scores(model)
    if source.has_labels and options.split != "train":
        parts["probe"] = _linear_probe(run, source, options)
    return parts


def _measure(run, source, examples, parts: dict, options) -> tuple[int, np.ndarray | None]:
    """Reads the split once, in batches: (its examples, their labels or None)."""
    first = "" if options.max_examples is None else f"the first {options.max_examples} "
    progress.stage(
        f"evaluate: {first}{options.split} {_examples_named(run)} of {source.spec}, "
        f"{applications.BATCH} at a time: {', '.join(parts)}"
    )
    batches = applications.measured_batches(examples, options.seed)
    return applications.measure(batches, parts.values())


def _examples_named(run) -> str:
    """What the split's examples are: images, or crops of them."""
    if splits.options_of(run).crop is None:
        return "images"
    return f"crops ({splits.crops_per_image(run)} per image)"


def _vae_section(model, examples, posterior, labels, count, options, figures_dir, written):
    """The VAE section; its bounds read the split's first `iw_examples` images again."""
    k, total = options.iw_samples, min(options.iw_examples, count)
    progress.stage(f"evaluate: VAE bounds, k={k} posterior samples on {total} images")
    counter = progress.Counter(total, f"evaluate: VAE bounds, k={k}")
    batches = examples.take(total).batch(likelihood.BATCH_SIZE).as_numpy_iterator()
    bounds = likelihood.batch_bounds(
        model, (b["image"] for b in batches), k, seed=options.seed, progress=counter.update
    )
    return applications.vae(model, posterior, bounds, labels, k, options.seed, figures_dir, written)


def _normal_and_anomalous(labels, normal_classes) -> bool:
    """Whether the split has labels and holds both normal and anomalous examples."""
    if labels is None or normal_classes is None:
        return False
    return 0 < np.isin(labels, normal_classes).sum() < len(labels)


def _anomaly_section(run, source, scores, labels, options, figures_dir: Path, written: list):
    """The anomaly section; its threshold is calibrated on the validation images that the
    score was not fitted on (anomaly.HeldOutParts), and the false positive rate it reaches is
    measured on the test split's normal images."""
    progress.stage("evaluate: anomaly threshold, calibrated on the validation split")
    parts = anomaly.HeldOutParts(splits.validation_count(run, source), splits.crops_per_image(run))
    validation = splits.split_examples(run, source, "validation")
    calibration = splits.streamed(run.model.score, parts.calibration(validation))
    if not len(calibration):
        raise errors.ConfigError("the validation split holds no example")
    section = applications.anomaly(
        scores,
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
    scores = splits.streamed(run.model.score, test)
    return asked | {
        "test_fpr": float(np.mean(scores > section["threshold"])) if len(scores) else None,
        "test_normal_examples": len(scores),
    }


def _linear_probe(run, source, options) -> applications.LinearProbe:
    """Linear probes on the codes and on the pixels of a uniform train-split sample."""
    progress.stage("evaluate: linear probe on the codes, trained on the train split")
    images, labels, _ = splits.sample_train(
        run, source, options.probe_examples or splits.train_count(run, source), seed=options.seed
    )
    return applications.LinearProbe(run.model, images, labels)


def _probe_section(run, source, probe, labels, options) -> dict:
    section = probe.section(labels, source.num_classes)
    section["train_sample"] = (
        f"{section['train_examples']} of the {splits.train_count(run, source)} train-split "
        f"examples, drawn uniformly without replacement (seed {options.seed}); tested on the "
        f"{options.split} split"
    )
    return section


def _overview_figures(codes, labels, workdir: Path) -> list[Path]:
    """The codes of the first images in 2-D and, when training logged a history, its curves."""
    figures_dir = workdir / "figures"
    written = [
        figures.code_scatter(
            codes,
            None if labels is None else labels[:OVERVIEW_CODES],
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
