"""Run the anchor experiments (train + evaluate) and write the results table.

    python -m experiments.run_anchors            # full length (see each config's epochs)
    python -m experiments.run_anchors --quick    # smoke run: 1 short epoch, small evaluation
    python -m experiments.run_anchors --only=vae-sprites,dae-sprites   # the others' rows stay
    python -m experiments.run_anchors --mnist=idx:data/mnist        # MNIST fetched by make data
    python -m experiments.run_anchors --only=dae-fashion --fashion_mnist=idx:data/fashion_mnist

Writes experiments/results/anchors.json and anchors.md (what ran, on which data and machine,
how long, and the headline metrics read from each run's metrics.json) and copies the table
into README.md between the `anchors:begin` / `anchors:end` markers: the numbers are never typed
by hand. An anchor whose data is not on this machine is listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from experiments.report import replace_readme_block

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"

QUICK_TRAIN = ["--epochs=1", "--steps_per_epoch=20"]
# MNIST's linear probe trains on the whole train split, as feature-learning papers measure it.
FULL_PROBE = ("--probe_examples=0",)
QUICK_EVALUATE = [
    "--max_examples=500",
    "--iw_samples=10",
    "--iw_examples=100",
    "--probe_examples=500",
]


@dataclasses.dataclass
class Anchor:
    name: str
    config: str  # experiments/configs/*.py
    # "mnist" and "fashion_mnist" anchors read the spec of --mnist / --fashion_mnist; any other
    # value is the spec itself.
    dataset: str
    reference: str
    classes: tuple[int, ...] | None = None  # one-class anchors: one run per normal class
    # experiments.side_by_side flags: the keras.io reference trained on the run's own data.
    side_by_side: tuple[str, ...] = ()
    evaluate: tuple[str, ...] = ()  # extra evaluate flags (full-length runs only)
    published: str = "—"  # the published figure, with its source


MNIST_ANCHORS = [
    Anchor(
        "vae-mnist",
        "experiments/configs/vae_mnist.py",
        "mnist",
        "keras.io VAE example (latent 2, 30 epochs, batch 128): latent plane and digit grid",
        side_by_side=("--reference=keras_io_vae",),
        evaluate=FULL_PROBE,
    ),
    Anchor(
        "dae-mnist",
        "experiments/configs/dae_mnist.py",
        "mnist",
        "keras.io convolutional denoiser (Gaussian noise 0.4): noisy vs denoised rows",
        side_by_side=("--reference=keras_io_denoiser",),
        evaluate=FULL_PROBE,
    ),
    Anchor(
        "likelihood-mnist",
        "experiments/configs/likelihood_mnist.py",
        "mnist",
        "importance-weighted bound, k = 1,000, whole test set, dynamically binarised images",
        evaluate=("--iw_samples=1000", "--iw_examples=10000"),
        published="VAE 86.76, IWAE 82.90 nats (Burda et al. 2015, Table 1)",
    ),
    Anchor(
        "features-mnist",
        "experiments/configs/features_mnist.py",
        "mnist",
        "linear probe on the codes (64 values) against the same probe on the pixels",
        evaluate=FULL_PROBE,
    ),
    Anchor(
        "oneclass-mnist",
        "experiments/configs/oneclass_mnist.py",
        "mnist",
        "Ruff et al. 2018 one-class MNIST, AUROC per digit (compare Table 1, DCAE row)",
        classes=tuple(range(10)),
        published="mean AUROC: One-Class Deep SVDD 0.948 (Ruff et al. 2018, Table 1); MemAE "
        "0.975 (Gong et al. 2019)",
    ),
]
# The MNIST recipes, unchanged, on Fashion-MNIST (`make data-fashion`): the check that they are
# not tuned to digits. The recipes will be judged on sets like it that are not on this machine.
FASHION_REFERENCES = {"oneclass-mnist": "Ruff et al. 2018 one-class protocol, AUROC per class"}
FASHION_ANCHORS = [
    dataclasses.replace(
        anchor,
        name=anchor.name.replace("-mnist", "-fashion"),
        dataset="fashion_mnist",
        reference=FASHION_REFERENCES.get(anchor.name, anchor.reference),
        published="—",
    )
    for anchor in MNIST_ANCHORS
]
ANCHORS = [
    *MNIST_ANCHORS,
    *FASHION_ANCHORS,
    Anchor("vae-sprites", "experiments/configs/vae_sprites.py", "sprites", "keras.io VAE recipe"),
    Anchor(
        "dae-sprites", "experiments/configs/dae_sprites.py", "sprites", "keras.io denoiser recipe"
    ),
    Anchor(
        "oneclass-sprites",
        "experiments/configs/oneclass_sprites.py",
        "sprites",
        "Ruff et al. 2018 protocol, AUROC per shape",
        classes=(0, 1, 2),
    ),
]


# How to get each redirectable set where TFDS cannot download it.
OFFLINE = {
    "mnist": "run make data and pass --mnist=idx:data/mnist (or --mnist=npz:PATH/mnist.npz)",
    "fashion_mnist": "run make data-fashion and pass --fashion_mnist=idx:data/fashion_mnist",
}


def data_missing(dataset: str, data_dir: str | None) -> str | None:
    """Why `dataset` cannot be used here, or None. Never downloads: on a machine without
    network a download attempt hangs in retries for minutes before failing."""
    if dataset.split("/")[0] == "sprites":
        return None  # embedded
    scheme, sep, path = dataset.partition(":")
    if sep and scheme in ("npz", "folder", "idx", "tfrecord"):
        return None if Path(path).expanduser().exists() else f"data not present ({path})"
    import tensorflow_datasets as tfds

    try:
        prepared = tfds.builder(dataset, data_dir=data_dir).is_prepared()
    except Exception as error:  # an unknown name or a corrupt folder
        return f"data not present ({type(error).__name__})"
    if prepared:
        return None
    return (
        f"data not present: {dataset} is not prepared in the TFDS data dir "
        f"({data_dir or '~/tensorflow_datasets'}) and cannot be downloaded here; prepare it or "
        + OFFLINE.get(dataset, "pass a local spec (idx:, npz:, folder:, tfrecord:)")
    )


def run_module(module: str, flags: list[str], log: Path) -> float:
    """Runs `python -m module flags` with its output in `log`; returns the seconds it took.
    Prints a line as it starts: a full-length stage runs up to an hour, its progress in `log`."""
    print(f"[anchors] {module} → {log}", flush=True)
    started = time.time()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        result = subprocess.run(
            [sys.executable, "-m", module, *flags],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        last = (log.read_text().strip().splitlines() or ["no output"])[-1].strip()
        raise RuntimeError(
            f"{module} failed (exit {result.returncode}): {last[:200]}; full log in {log}"
        )
    return time.time() - started


def run_one(anchor, dataset, normal_class, args) -> dict:
    suffix = "" if normal_class is None else f"-{normal_class}"
    workdir = Path(args.runs_dir) / f"{anchor.name}{suffix}"
    train = [f"--config={anchor.config}", f"--workdir={workdir}", f"--dataset={dataset}"]
    train.append("--overwrite")
    if normal_class is not None:
        train.append(f"--normal_classes={normal_class}")
    if args.data_dir:
        train.append(f"--data_dir={args.data_dir}")
    if args.quick:
        train += QUICK_TRAIN
    evaluate = [f"--workdir={workdir}", *(QUICK_EVALUATE if args.quick else anchor.evaluate)]
    logs = workdir.parent / "logs"
    train_seconds = run_module("convae_tf.train", train, logs / f"{workdir.name}.train.log")
    evaluate_seconds = run_module(
        "convae_tf.evaluate", evaluate, logs / f"{workdir.name}.evaluate.log"
    )
    metrics = json.loads((ROOT / workdir / "metrics.json").read_text())
    row = {
        "workdir": str(workdir),
        "commands": [
            "python -m convae_tf.train " + " ".join(train),
            "python -m convae_tf.evaluate " + " ".join(evaluate),
        ],
        "train_seconds": round(train_seconds, 1),
        "evaluate_seconds": round(evaluate_seconds, 1),
        "metrics": headline(metrics),
    }
    if anchor.side_by_side:
        # QUICK_TRAIN's single short epoch, on side_by_side's 1,024-image sample.
        side = [f"--workdir={workdir}", *anchor.side_by_side]
        side += ["--quick", "--epochs=1"] if args.quick else []
        row["reference_seconds"] = round(
            run_module("experiments.side_by_side", side, logs / f"{workdir.name}.reference.log"),
            1,
        )
        row["commands"].append("python -m experiments.side_by_side " + " ".join(side))
        row["metrics"] |= reference_headline(
            json.loads((ROOT / workdir / "reference.json").read_text())
        )
    return row


def headline(metrics: dict) -> dict:
    """The numbers the table shows, read from metrics.json."""
    out = {
        "psnr": metrics["reconstruction"]["psnr"],
        "ssim": metrics["reconstruction"]["ssim"],
        "examples": metrics["num_examples"],
    }
    if "vae" in metrics:
        out |= {k: metrics["vae"][k] for k in ("neg_elbo", "nll_is", "k", "active_units")}
    noisy = metrics["denoising"]["gaussian_0.4"]
    out |= {"psnr_noisy_0.4": noisy["psnr_noisy"], "psnr_denoised_0.4": noisy["psnr_denoised"]}
    if "anomaly" in metrics:
        out |= {k: metrics["anomaly"][k] for k in ("auroc", "auprc")}
    if "probe" in metrics:
        out |= {
            "probe_code": metrics["probe"]["code_accuracy"],
            "probe_pixels": metrics["probe"]["pixel_accuracy"],
        }
    return out


def reference_headline(reference: dict) -> dict:
    """The side-by-side reference's numbers the table shows, read from reference.json."""
    if "denoising" in reference:
        return {
            "reference_psnr_denoised_0.4": reference["denoising"]["gaussian_0.4"]["psnr_denoised"]
        }
    return {
        "reference_neg_elbo_mean": reference["test_negative_elbo"],
        "neg_elbo_mean": reference["ours_test_negative_elbo"],
    }


def run_anchor(anchor: Anchor, args) -> dict:
    dataset = {"mnist": args.mnist, "fashion_mnist": args.fashion_mnist}.get(
        anchor.dataset, anchor.dataset
    )
    entry = {
        "name": anchor.name,
        "dataset": dataset,
        "reference": anchor.reference,
        "published": anchor.published,
    }
    missing = data_missing(dataset, args.data_dir)
    if missing:
        print(f"[anchors] {anchor.name}: skipped, {missing}", flush=True)
        return entry | {"status": "skipped", "reason": missing}
    started = time.time()
    try:
        if anchor.classes is None:
            entry |= run_one(anchor, dataset, None, args)
        else:
            runs = {str(c): run_one(anchor, dataset, c, args) for c in anchor.classes}
            aurocs = [r["metrics"]["auroc"] for r in runs.values()]
            entry |= {"per_class": runs, "metrics": {"mean_auroc": sum(aurocs) / len(aurocs)}}
    except RuntimeError as error:
        print(f"[anchors] {anchor.name}: FAILED, {error}", flush=True)
        return entry | {"status": "failed", "reason": str(error)}
    entry |= {
        "status": "ran",
        "seconds": round(time.time() - started, 1),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    print(f"[anchors] {anchor.name}: done in {entry['seconds']} s", flush=True)
    return entry


def machine() -> dict:
    import keras
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def _fmt(value, digits=3):
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def result_cell(entry: dict) -> str:
    if entry["status"] != "ran":
        return entry["reason"].replace("|", "/")  # a "|" would split the table cell
    m = entry["metrics"]
    if "per_class" in entry:
        per = ", ".join(
            f"{c}: {_fmt(r['metrics']['auroc'])}" for c, r in entry["per_class"].items()
        )
        return f"mean AUROC {_fmt(m['mean_auroc'])} ({per})"
    parts = [f"PSNR {_fmt(m['psnr'], 2)} dB", f"SSIM {_fmt(m['ssim'])}"]
    if "neg_elbo" in m:
        parts += [
            f"−ELBO {_fmt(m['neg_elbo'], 1)} nats",
            f"NLL(IS, k={m['k']}) {_fmt(m['nll_is'], 1)} nats",
            f"active units {m['active_units']}",
        ]
    if "reference_neg_elbo_mean" in m:
        parts.append(
            f"−ELBO at the posterior mean {_fmt(m['neg_elbo_mean'], 1)} nats, keras.io VAE "
            f"side by side {_fmt(m['reference_neg_elbo_mean'], 1)}"
        )
    if entry["name"].startswith("dae"):
        denoised = (
            f"σ 0.4: PSNR {_fmt(m['psnr_noisy_0.4'], 2)} → {_fmt(m['psnr_denoised_0.4'], 2)} dB"
        )
        if "reference_psnr_denoised_0.4" in m:
            theirs = m["reference_psnr_denoised_0.4"]
            denoised += (
                f" (keras.io denoiser side by side {_fmt(theirs, 2)} dB: "
                f"{m['psnr_denoised_0.4'] - theirs:+.2f} dB)"
            )
        parts.append(denoised)
    if "probe_code" in m:
        parts.append(f"probe {_fmt(m['probe_code'])} (pixels {_fmt(m['probe_pixels'])})")
    return "; ".join(parts)


def markdown(report: dict) -> str:
    m = report["machine"]
    command = "python -m experiments.run_anchors" + (" --quick" if report["quick"] else "")
    mode = (
        "QUICK smoke run (1 epoch of 20 steps, evaluation on 500 test images): it checks the "
        "pipeline and does not reproduce the anchors"
        if report["quick"]
        else "full-length run"
    )
    lines = [
        f"Generated by `{command}` on {report['date']}: {mode}. Machine: {m['cpus']} CPUs "
        f"({m['processor']}), {m['gpus']} GPU, TensorFlow {m['tensorflow']}, Keras "
        f"{m['keras']}. Total {report['total_seconds']:.0f} s (this run's anchors; a row's time "
        "says when it ran).",
        "",
        "| anchor | data | result (test split) | reference | published | time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for entry in report["anchors"]:
        seconds = "—"
        if entry["status"] == "ran":
            seconds = f"{entry['seconds']:.0f} s, {entry.get('date', report['date'][:10])}"
        if "outdated" in entry:
            # Set by hand on a kept row whose recipe has changed since: a rerun replaces it.
            seconds += f"; {entry['outdated']}"
        lines.append(
            f"| {entry['name']} | {entry['dataset']} | {result_cell(entry)} | "
            f"{entry['reference']} | {entry.get('published', '—')} | {seconds} |"
        )
    return "\n".join(lines) + "\n"


def merged(entries: list[dict], previous: dict | None, quick: bool) -> list[dict]:
    """This run's entries, and for every anchor it did not run the previous report's entry
    (same mode only), in the order of ANCHORS: `--only` refreshes rows, never drops them."""
    kept = {}
    if previous is not None and previous.get("quick") == quick:
        # A row kept from a report older than per-row dates ran on that report's date.
        ran = {"date": previous["date"][:10]}
        kept = {e["name"]: ran | e if e["status"] == "ran" else e for e in previous["anchors"]}
    kept |= {entry["name"]: entry for entry in entries}
    return [kept[anchor.name] for anchor in ANCHORS if anchor.name in kept]


def update_readme(table: str) -> bool:
    return replace_readme_block("anchors", table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny training/eval")
    parser.add_argument("--only", default="", help="comma-separated anchor names")
    parser.add_argument(
        "--mnist",
        default="mnist",
        help="MNIST dataset spec (idx:data/mnist after make data; npz:PATH too)",
    )
    parser.add_argument(
        "--fashion_mnist",
        default="fashion_mnist",
        help="Fashion-MNIST dataset spec (idx:data/fashion_mnist after make data-fashion)",
    )
    parser.add_argument("--data_dir", default=None, help="TFDS data directory")
    parser.add_argument("--runs_dir", default="runs/anchors", help="where the runs go")
    parser.add_argument("--no_readme", action="store_true", help="leave README.md alone")
    parser.add_argument("--results_dir", default=str(RESULTS), help="where the report goes")
    args = parser.parse_args()
    chosen = [a for a in ANCHORS if not args.only or a.name in args.only.split(",")]
    if not chosen:
        parser.error(f"--only={args.only} names no anchor; choose from {[a.name for a in ANCHORS]}")
    started = time.time()
    stem = "anchors_quick" if args.quick else "anchors"
    entries = [run_anchor(anchor, args) for anchor in chosen]
    # Read when this run ends, not when it starts: another --only run may have finished since.
    results = Path(args.results_dir)
    previous_path = results / f"{stem}.json"
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else None
    report = {
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "anchors": merged(entries, previous, args.quick),
    }
    report["total_seconds"] = round(time.time() - started, 1)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (results / f"{stem}.md").write_text(table)
    # A failed run is a bug to fix, not a result: the README keeps its last good table.
    failed = [a["name"] for a in report["anchors"] if a["status"] == "failed"]
    quoted = not args.no_readme and not failed and update_readme(table)
    print(
        f"[anchors] wrote {results / stem}.json and .md"
        + (" and the README table" if quoted else "")
        + (f"; FAILED: {', '.join(failed)} (README left as it was)" if failed else ""),
        flush=True,
    )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
