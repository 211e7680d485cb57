"""Does the training precision change what a model learns? Test −ELBO by precision and seed.

    .venv/bin/python experiments/precision_quality.py            # ~10 minutes on 2 cores
    .venv/bin/python experiments/precision_quality.py --quick    # a smoke test

Our default `vae` trains `--epochs` epochs on the npz data (benchmark.py's: MNIST if present,
else synthetic digits) from the same seed in float32, under the Keras mixed_bfloat16 policy
and under TF's oneDNN bfloat16 rewrite (onednn_bfloat16, convae_tf/training/precision.py), for
each of `--seeds`; the test negative ELBO is measured in float32 after training. Writes
`experiments/results/precision_quality.json` and `.md`: per precision, the mean and spread over
seeds and the training seconds (wall time of `fit`, tracing included: indicative only;
benchmark.py and layer_speed.py measure speed properly).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchmark  # noqa: E402  (beside this script: data and our recipe)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from convae_tf.training import precision  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16", "onednn_bfloat16")


def say(message: str) -> None:
    print(f"[precision_quality] {message}", flush=True)


def test_negative_elbo(model, ds) -> float:
    with precision.graph_rewrite("float32"):
        return benchmark.test_negative_elbo(model, ds.x_test)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=str(benchmark.RESULTS))
    parser.add_argument("--quick", action="store_true", help="a smoke test: tiny and fast")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds = 1, "0"
    started = time.time()
    rec = benchmark.recipe()
    npz, npz_note = benchmark.npz_path(None, args.quick)
    ds = benchmark.Dataset(f"npz:{npz}", None, rec["batch_size"], 1024 if args.quick else None)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {mode: {"test_negative_elbo": [], "train_seconds": []} for mode in PRECISIONS}
    for seed in seeds:
        for mode in PRECISIONS:  # alternating, so drifts in machine load hit every precision
            keras.utils.set_random_seed(seed)
            model = benchmark.ours(args.model, ds.image_shape, dict(rec, precision=mode))
            start = time.perf_counter()
            with precision.graph_rewrite(mode):
                model.fit(ds.pipes.train, epochs=args.epochs, verbose=0)
            seconds = time.perf_counter() - start
            elbo = test_negative_elbo(model, ds)
            results[mode]["test_negative_elbo"].append(round(elbo, 3))
            results[mode]["train_seconds"].append(round(seconds, 1))
            say(f"seed {seed} {mode}: test −ELBO {elbo:.3f} nats after {seconds:.1f} s")
    for row in results.values():
        values = row["test_negative_elbo"]
        row["mean"] = round(float(np.mean(values)), 3)
        row["std"] = round(float(np.std(values)), 3)
        row["median_train_seconds"] = round(statistics.median(row["train_seconds"]), 1)
    report = {
        "model": args.model,
        "epochs": args.epochs,
        "seeds": seeds,
        "data": f"npz:{npz} ({npz_note})",
        "recipe": {k: v for k, v in rec.items() if k != "precision"},
        "precisions": results,
        "seconds": round(time.time() - started, 1),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "precision_quality.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "precision_quality.md").write_text(markdown(report))
    say(f"done in {report['seconds']} s: {out / 'precision_quality.md'}")
    return report


def markdown(report: dict) -> str:
    lines = [
        "# Test −ELBO by training precision",
        "",
        f"`precision_quality.py` — `{report['model']}`, {report['epochs']} epochs on "
        f"{report['data']}, seeds {report['seeds']}; test −ELBO in nats per image, measured in "
        "float32. Seconds: wall time of `fit`, tracing included (indicative only).",
        "",
        "| precision | test −ELBO per seed | mean ± std | median train seconds |",
        "| --- | --- | ---: | ---: |",
    ]
    for mode, row in report["precisions"].items():
        per_seed = ", ".join(f"{v:.2f}" for v in row["test_negative_elbo"])
        lines.append(
            f"| {mode} | {per_seed} | {row['mean']:.2f} ± {row['std']:.2f} | "
            f"{row['median_train_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
