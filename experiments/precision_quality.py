"""Does the training precision change what a model learns? Test −ELBO by precision and seed.

    python -m experiments.precision_quality            # ~10 minutes on 2 cores
    python -m experiments.precision_quality --quick    # a smoke test

Our default `vae` trains `--epochs` epochs on the npz data (`experiments/datasets.py`: MNIST
if present, else synthetic digits) from the same seed in float32, under the Keras
mixed_bfloat16 policy and under TF's oneDNN bfloat16 rewrite (onednn_bfloat16,
convae_tf/training/precision.py), for each of `--seeds`; the test negative ELBO is measured in
float32 after training. Writes `experiments/results/precision_quality.json` and `.md`: per
precision, the mean and spread over seeds and the training seconds (wall time of `fit`, tracing
included: indicative only; benchmark.py and layer_speed.py measure speed properly).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from convae_tf.training import precision
from experiments import ours, report
from experiments.datasets import Dataset, npz_path
from experiments.quality import test_negative_elbo

PRECISIONS = ("float32", "mixed_bfloat16", "onednn_bfloat16")


def say(message: str) -> None:
    print(f"[precision_quality] {message}", flush=True)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=str(report.RESULTS))
    parser.add_argument("--quick", action="store_true", help="a smoke test: tiny and fast")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds = 1, "0"
    started = time.time()
    rec = ours.recipe()
    npz, npz_note = npz_path(None, args.quick)
    ds = Dataset(f"npz:{npz}", None, rec["batch_size"], args.quick)
    seeds = [int(s) for s in args.seeds.split(",")]
    by_precision = {mode: {"test_negative_elbo": [], "train_seconds": []} for mode in PRECISIONS}
    for seed in seeds:
        for mode in PRECISIONS:  # alternating, so drifts in machine load hit every precision
            keras.utils.set_random_seed(seed)
            model = ours.build(args.model, ds.image_shape, dict(rec, precision=mode))
            start = time.perf_counter()
            with precision.graph_rewrite(mode):
                model.fit(ds.pipes.train, epochs=args.epochs, verbose=0)
            seconds = time.perf_counter() - start
            elbo = test_negative_elbo(model, ds.x_test)
            by_precision[mode]["test_negative_elbo"].append(round(elbo, 3))
            by_precision[mode]["train_seconds"].append(round(seconds, 1))
            say(f"seed {seed} {mode}: test −ELBO {elbo:.3f} nats after {seconds:.1f} s")
    for row in by_precision.values():
        values = row["test_negative_elbo"]
        row["mean"] = round(float(np.mean(values)), 3)
        row["std"] = round(float(np.std(values)), 3)
        row["median_train_seconds"] = round(statistics.median(row["train_seconds"]), 1)
    result = {
        "model": args.model,
        "epochs": args.epochs,
        "seeds": seeds,
        "data": f"npz:{npz} ({npz_note})",
        "recipe": {k: v for k, v in rec.items() if k != "precision"},
        "precisions": by_precision,
        "seconds": round(time.time() - started, 1),
    }
    out = Path(args.out)
    report.write_results(out, "precision_quality", result, markdown(result))
    say(f"done in {result['seconds']} s: {out / 'precision_quality.md'}")
    return result


def markdown(result: dict) -> str:
    lines = [
        "# Test −ELBO by training precision",
        "",
        f"`python -m experiments.precision_quality` — `{result['model']}`, {result['epochs']} "
        f"epochs on {result['data']}, seeds {result['seeds']}; test −ELBO in nats per image, "
        "measured in float32. Seconds: wall time of `fit`, tracing included (indicative only).",
        "",
        "| precision | test −ELBO per seed | mean ± std | median train seconds |",
        "| --- | --- | ---: | ---: |",
    ]
    for mode, row in result["precisions"].items():
        per_seed = ", ".join(f"{v:.2f}" for v in row["test_negative_elbo"])
        lines.append(
            f"| {mode} | {per_seed} | {row['mean']:.2f} ± {row['std']:.2f} | "
            f"{row['median_train_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
