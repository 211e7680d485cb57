"""Side-by-side benchmark of convae_tf against the keras.io reference autoencoders (issue 6).

    make bench                                                    # the full run (~30-40 min)
    python -m experiments.benchmark --npz=~/.keras/datasets/mnist.npz
    python -m experiments.benchmark --quick                       # a smoke test, ~1 minute
    python -m experiments.benchmark --readme_only                 # README block from the json

Measures in one process, on this machine, and writes `experiments/results/benchmark.json` and
`benchmark.md`:

- peak: the float32 arithmetic rate of a large matmul (the machine's practical peak);
- training throughput (images/s in steady state) of every registered model and of the two
  reference implementations (`experiments/references.py`), on `sprites` and on the npz data
  (`experiments/datasets.py`); FLOPs per image and the GFLOP/s achieved, as a share of that
  peak;
- inference latency and throughput at batch 1 and 64 through Keras (`predict_on_batch`), the
  SavedModel `serving_default` signature, and the TFLite float32 and int8 files (LiteRT);
- time to quality (`experiments/quality.py`): the reference VAE trains `--ttq_epochs` epochs;
  our default `vae` trains until its test negative ELBO reaches the reference's final one; our
  `vae` at the reference's architecture trains the same number of epochs as the reference.

Every timing alternates ours and the reference's in one loop (`--repeats` rounds); a ratio
is ours/reference measured in the same round, and the tables quote medians
(`experiments/timing.py` says how each thing is timed). FLOPs: forward FLOPs of one
reconstructed image (convae_tf's model-card counter: the frozen batch-1 graph, 2 per
multiply-add) × 3 for a training step (forward + backward ≈ 2 × forward), the usual convention.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf

import convae_tf
from experiments import inference, ours, quality, references, report, timing
from experiments.datasets import Dataset, npz_path

BATCH_SIZES = (1, 64)  # inference
TRAIN_FLOPS_PER_FORWARD = 3  # a training step ≈ forward + a backward of twice its cost


def say(message: str) -> None:
    print(f"[benchmark] {message}", flush=True)


def reference_for(name: str) -> str:
    """The reference each of our models is compared with: the VAE with the VAE, every
    deterministic autoencoder with the convolutional (denoising) autoencoder."""
    return "keras_io_vae" if name.split("@")[0] == "vae" else "keras_io_denoiser"


def build(name: str, image_shape, rec: dict) -> keras.Model:
    keras.utils.set_random_seed(0)
    if name in references.REFERENCES:
        return references.REFERENCES[name](image_shape)
    return ours.build(name, image_shape, rec)


def train_throughput(model, name: str, ds: Dataset, steps: int, warmup: int) -> float:
    """`timing.fit_rate` of `name` on `ds`, fed as its authors feed it (numpy arrays for the
    references, our pipeline for ours), in the precision it trains in."""
    if name in references.REFERENCES:
        batch, fit_args = references.REFERENCE_BATCH, references.fit_arguments(name, ds.x_train)
    else:
        batch = ds.pipes.train.element_spec.shape[0] or ours.recipe()["batch_size"]
        fit_args = dict(x=ds.pipes.train.repeat())
    with ours.training_precision(name):
        return timing.fit_rate(model, fit_args, batch, steps, warmup)


def training_section(models: dict, ds: Dataset, args, peak: float) -> dict:
    """Images/s of every model over alternating rounds, and what they amount to in FLOP/s."""
    rates = {name: [] for name in models}
    for round_ in range(args.repeats):
        for name, model in models.items():
            rates[name].append(train_throughput(model, name, ds, args.steps, args.warmup))
        say(
            f"{ds.spec.split(':')[0]} round {round_ + 1}: "
            + ", ".join(f"{n} {r[-1]:.0f}" for n, r in rates.items())
        )
    rows = {}
    for name, model in models.items():
        flops = TRAIN_FLOPS_PER_FORWARD * inference.reconstruct_flops(model, name, ds.image_shape)
        ips = statistics.median(rates[name])
        rows[name] = {
            "images_per_second": round(ips, 1),
            "runs": [round(r, 1) for r in rates[name]],
            "train_flops_per_image": flops,
            "gflops_per_second": round(flops * ips / 1e9, 2),
            "share_of_peak": round(flops * ips / 1e9 / peak, 4),
            "parameters": int(model.count_params()),
        }
        if name not in references.REFERENCES:
            reference = reference_for(name)
            rows[name]["reference"] = reference
            rows[name]["ratio_to_reference"] = timing.median_ratio(rates[name], rates[reference])
    return {"spec": ds.spec, "image_shape": list(ds.image_shape), "models": rows}


def inference_section(models: dict, ds: Dataset, args) -> dict:
    """Reconstruction latency of every model through every engine at each of BATCH_SIZES."""
    images = ds.x_test[: max(BATCH_SIZES)]
    # Fewer calls for larger batches: about the same time per measurement.
    calls = {
        batch: args.inference_repeats if batch == 1 else max(3, args.inference_repeats // 10)
        for batch in BATCH_SIZES
    }
    timings = {name: {} for name in models}
    with tempfile.TemporaryDirectory(prefix="convae_bench_") as scratch:
        engines = {
            name: inference.engines(model, name, images, Path(scratch))
            for name, model in models.items()
        }
        for _ in range(max(1, args.repeats)):
            for name, per_engine in engines.items():
                for (engine, run), batch in itertools.product(per_engine.items(), BATCH_SIZES):
                    x = images[:batch]
                    timings[name].setdefault(f"{engine}@{batch}", []).append(
                        timing.time_calls(lambda run=run, x=x: run(x), calls[batch])
                    )
    section = {}
    for name, per in timings.items():
        latency = {key: statistics.median(values) for key, values in per.items()}
        section[name] = {
            key: {
                "latency_ms": round(seconds * 1e3, 3),
                "images_per_second": round(int(key.split("@")[1]) / seconds, 1),
            }
            for key, seconds in latency.items()
        }
        section[name]["int8_over_saved_model_batch1"] = round(
            latency["tflite_int8@1"] / latency["saved_model@1"], 3
        )
    return section


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--npz",
        help="npz in the keras mnist.npz layout (default: MNIST if "
        "present, else a synthetic MNIST-like file)",
    )
    parser.add_argument("--data_dir", help="TFDS data directory (where sprites is prepared)")
    parser.add_argument(
        "--models",
        help="comma list of our models (default: all registered, "
        "plus vae@reference: our vae at the keras.io VAE's architecture)",
    )
    parser.add_argument("--datasets", default="sprites,npz", help="sprites, npz or both")
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up steps per round")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    parser.add_argument("--inference_repeats", type=int, default=50)
    parser.add_argument(
        "--ttq_epochs",
        type=int,
        default=30,
        help="reference VAE epochs for time to quality (0: skip)",
    )
    parser.add_argument(
        "--checks_per_epoch",
        type=int,
        default=4,
        help="test −ELBO checks per epoch of our default vae",
    )
    parser.add_argument("--peak_seconds", type=float, default=3.0)
    parser.add_argument("--out", default=str(report.RESULTS), help="folder for benchmark.json/.md")
    parser.add_argument(
        "--readme_only",
        action="store_true",
        help="rewrite README.md's performance block from the existing benchmark.json",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: tiny data, a few steps, 1 epoch, few repeats",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 3, 2, 1
        args.inference_repeats, args.ttq_epochs, args.peak_seconds = 3, min(args.ttq_epochs, 1), 0.2
        args.checks_per_epoch = 1
    return args


def update_readme(result: dict) -> None:
    if report.replace_readme_block("benchmark", report.benchmark_summary(result)):
        say("wrote the README performance block")
    else:
        say("README.md has no benchmark block; left alone")


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    if args.readme_only:
        result = json.loads((out / "benchmark.json").read_text())
        update_readme(result)
        return result
    started = time.time()
    rec = ours.recipe()
    names = (
        args.models.split(",")
        if args.models
        else [*convae_tf.list_models(), ours.AT_REFERENCE_ARCHITECTURE]
    )
    npz, npz_note = npz_path(args.npz, args.quick)
    datasets = {
        key: Dataset(
            "sprites" if key == "sprites" else f"npz:{npz}",
            args.data_dir,
            rec["batch_size"],
            args.quick,
        )
        for key in args.datasets.split(",")
    }
    say(f"recipe {rec}; data: npz = {npz} ({npz_note})")

    peak = timing.measure_peak(args.peak_seconds)
    peak_bf16 = timing.measure_peak(args.peak_seconds, tf.bfloat16)
    say(f"peak: {peak:.1f} GFLOP/s float32 matmul, {peak_bf16:.1f} bfloat16")
    result = {
        "command": report.command("benchmark", argv),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "peak_gflops_float32_matmul": round(peak, 1),
            # For reference only: bfloat16 training can exceed the float32 peak.
            "peak_gflops_bfloat16_matmul": round(peak_bf16, 1),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "recipe": rec,
        "npz": {"path": str(npz), "what": npz_note},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "training": {},
        "inference": {},
    }
    # Inference on one dataset only (one image size is enough for latency figures): the npz.
    inference_key = "npz" if "npz" in datasets else list(datasets)[-1]
    for key, ds in datasets.items():
        models = {
            name: build(name, ds.image_shape, rec) for name in [*references.REFERENCES, *names]
        }
        result["training"][key] = training_section(models, ds, args, peak)
        if key == inference_key:
            result["inference"] = inference_section(models, ds, args)
            result["inference_dataset"] = key

    if args.ttq_epochs and "npz" in datasets:
        result["time_to_quality"] = quality.time_to_quality(
            datasets["npz"], args.ttq_epochs, args.checks_per_epoch, rec
        )
    result["seconds"] = round(time.time() - started, 1)
    markdown = report.benchmark_markdown(result)
    report.write_results(out, "benchmark", result, markdown)
    if report.quotes_in_readme(out, args.quick):
        update_readme(result)
    say(f"done in {result['seconds']} s: {out / 'benchmark.json'}, {out / 'benchmark.md'}")
    print(markdown)
    return result


if __name__ == "__main__":
    main()
