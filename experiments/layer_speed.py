"""Where the time of the keras.io VAE's architecture goes, and what can speed it up (issue 6).

    python -m experiments.layer_speed            # ~2 minutes on 2 cores (make bench-layers)
    python -m experiments.layer_speed --quick    # a smoke test

`benchmark.py` measures our `vae` at the keras.io VAE's architecture against the reference
end to end. This script takes that training step apart, on this machine, in one process, and
writes `experiments/results/layer_speed.json` and `layer_speed.md`:

1. per layer: the training cost (forward, and backward to the weights and to the layer's
   input) of each of the reference's layers in float32, under the Keras mixed_bfloat16
   policy, and as a float32 layer under TF's oneDNN bfloat16 graph rewrite (onednn_bfloat16,
   convae_tf/training/precision.py), and the speedups;
2. exact rewrites of the stride-2 Conv2DTranspose, the layers that dominate the step: the same
   function computed as (a) TF's conv2d_transpose, what Keras runs; (b) a sub-pixel
   convolution; (c) four phase convolutions; (d) one matmul, then col2im
   (`experiments/transpose_rewrites.py`). Each is checked equal to (a) before it is timed;
3. end to end: images/s of our `vae` at the reference's architecture in each precision, and
   in our recipe's precision at larger batch sizes, against the reference at its batch 128
   (float32, as published).

Every table alternates its candidates in rounds (`--repeats`) and quotes medians of the
per-round ratios. Inputs and upstream gradients are function arguments, never constants: a
constant input lets grappler fold part of the backward pass away, which flatters the timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from convae_tf import data
from convae_tf.training import precision
from experiments import ours, references, report, timing
from experiments.datasets import Dataset, npz_path
from experiments.transpose_rewrites import KERAS_WAY, REWRITES, transpose_conv

# float32; the Keras mixed policy; the float32 model with TF's bfloat16 graph rewrite.
PRECISIONS = ("float32", "mixed_bfloat16", "onednn_bfloat16")


def say(message: str) -> None:
    print(f"[layer_speed] {message}", flush=True)


# ------------------------------------------------------------------------------ 1. layers
def reference_layers(height: int = 28) -> dict:
    """The keras.io VAE's layers at a 28×28×1 input: name -> (factory(dtype), input shape,
    whether the backward pass needs the input gradient)."""
    q = height // 4

    def conv(filters, **kw):
        return lambda dtype: layers.Conv2D(
            filters, 3, strides=2, padding="same", activation="relu", dtype=dtype, **kw
        )

    def deconv(filters, strides, activation):
        return lambda dtype: layers.Conv2DTranspose(
            filters, 3, strides=strides, padding="same", activation=activation, dtype=dtype
        )

    def dense(units, activation):
        return lambda dtype: layers.Dense(units, activation=activation, dtype=dtype)

    return {
        f"Conv2D 32 s2 ({height}×{height}×1)": (conv(32), (height, height, 1), False),
        f"Conv2D 64 s2 ({2 * q}×{2 * q}×32)": (conv(64), (2 * q, 2 * q, 32), True),
        f"Dense 16 ({q * q * 64})": (dense(16, "relu"), (q * q * 64,), True),
        f"Dense {q * q * 64} (2)": (dense(q * q * 64, "relu"), (2,), True),
        f"Conv2DTranspose 64 s2 ({q}×{q}×64)": (deconv(64, 2, "relu"), (q, q, 64), True),
        f"Conv2DTranspose 32 s2 ({2 * q}×{2 * q}×64)": (
            deconv(32, 2, "relu"),
            (2 * q, 2 * q, 64),
            True,
        ),
        f"Conv2DTranspose 1 s1 ({height}×{height}×32)": (
            deconv(1, 1, None),
            (height, height, 32),
            True,
        ),
    }


def training_step_timer(forward, variables, x, upstream, input_gradient: bool, steps: int):
    """A function that times `steps` forward+backward passes, in ms per pass."""
    sources = [*variables]

    @tf.function
    def step(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = forward(x)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
        return tape.gradient(loss, [x, *sources] if input_gradient else sources)

    for _ in range(3):  # trace and warm oneDNN's primitive cache
        step(x, upstream)

    def timed() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            grads = step(x, upstream)
        grads[0].numpy()
        return (time.perf_counter() - start) / steps * 1e3

    return timed


def layer_table(batch: int, repeats: int, steps: int) -> dict:
    rng = np.random.default_rng(0)
    timers = {}
    for name, (make, shape, input_gradient) in reference_layers().items():
        x = tf.constant(rng.standard_normal((batch, *shape)), tf.float32)
        for mode in PRECISIONS:
            layer = make(precision.keras_policy(mode))
            y = layer(x)
            upstream = tf.constant(rng.standard_normal(y.shape), tf.float32)
            timers[name, mode] = training_step_timer(
                layer, layer.trainable_variables, x, upstream, input_gradient, steps
            )
    times = {key: [] for key in timers}
    for round_ in range(repeats):
        for (name, mode), timed in timers.items():
            with precision.graph_rewrite(mode):
                times[name, mode].append(timed())
        say(f"layers round {round_ + 1}/{repeats}")
    names = list(reference_layers())
    times.update(
        {
            ("all layers", mode): [sum(times[n, mode][r] for n in names) for r in range(repeats)]
            for mode in PRECISIONS
        }
    )
    rows = {}
    for name in [*names, "all layers"]:
        f32 = times[name, "float32"]
        rows[name] = {
            f"{mode}_ms": round(statistics.median(times[name, mode]), 3) for mode in PRECISIONS
        }
        for mode in PRECISIONS[1:]:
            rows[name][f"{mode}_speedup"] = timing.median_ratio(f32, times[name, mode])
    return rows


# ----------------------------------------------------------------------------- 2. rewrites
def rewrite_table(batch: int, repeats: int, steps: int) -> dict:
    rng = np.random.default_rng(1)
    check_x = tf.constant(rng.standard_normal((2, 5, 5, 6)), tf.float32)
    check_k = tf.constant(rng.standard_normal((3, 3, 4, 6)), tf.float32)
    expected = transpose_conv(check_x, check_k)
    for name, fn in REWRITES.items():
        error = float(tf.reduce_max(tf.abs(fn(check_x, check_k) - expected)))
        if error > 1e-4:
            raise AssertionError(f"{name} differs from conv2d_transpose by {error}")
    shapes = {"7×7×64 → 14×14×64": (7, 64, 64), "14×14×64 → 28×28×32": (14, 64, 32)}
    timers = {}
    for label, (size, cin, cout) in shapes.items():
        x32 = tf.constant(rng.standard_normal((batch, size, size, cin)), tf.float32)
        k32 = tf.constant(rng.standard_normal((3, 3, cout, cin)) * 0.1, tf.float32)
        up32 = tf.constant(rng.standard_normal((batch, 2 * size, 2 * size, cout)), tf.float32)
        for dtype in (tf.float32, tf.bfloat16):
            kernel = tf.Variable(tf.cast(k32, dtype))
            for name, fn in REWRITES.items():
                timers[label, dtype.name, name] = training_step_timer(
                    lambda x, fn=fn, kernel=kernel: fn(x, kernel),
                    [kernel],
                    tf.cast(x32, dtype),
                    up32,
                    True,
                    steps,
                )
    times = {key: [] for key in timers}
    for round_ in range(repeats):
        for key, timed in timers.items():
            times[key].append(timed())
        say(f"rewrites round {round_ + 1}/{repeats}")
    rows = {}
    for (label, dtype, name), values in times.items():
        size, cin, cout = shapes[label]
        # The transposed convolution's multiply-adds, 2 FLOPs each, × 3 for forward + backward.
        flops = 3 * 2 * 9 * cin * cout * size * size * batch
        baseline = times[label, dtype, KERAS_WAY]
        rows.setdefault(label, {}).setdefault(dtype, {})[name] = {
            "ms": round(statistics.median(values), 3),
            "gflops_per_second": round(flops / statistics.median(values) / 1e6, 1),
            "speedup": timing.median_ratio(baseline, values),
        }
    return rows


# ------------------------------------------------------------------------ 3. batch sizes
def end_to_end_table(batch_sizes, repeats: int, steps: int, quick: bool) -> dict:
    """Our `vae` at the reference's architecture: every precision at the first batch size, our
    recipe's precision at the others; the reference as published alongside."""
    rec = ours.recipe()
    npz, _ = npz_path(None, quick)
    ds = Dataset(f"npz:{npz}", None, references.REFERENCE_BATCH, quick)
    keras.utils.set_random_seed(0)
    reference = references.keras_io_vae(ds.image_shape)
    models = {
        mode: ours.build(ours.AT_REFERENCE_ARCHITECTURE, ds.image_shape, dict(rec, precision=mode))
        for mode in PRECISIONS
    }
    streams = {
        size: data.make_pipelines(ds.source, batch_size=size, seed=0).train.repeat()
        for size in batch_sizes
    }
    runs = [(mode, batch_sizes[0]) for mode in PRECISIONS]
    runs += [(rec["precision"], size) for size in batch_sizes[1:]]

    def rate(model, fit_args, batch, n, mode):
        with precision.graph_rewrite(mode):
            return timing.fit_rate(model, fit_args, batch, n, warmup=3)

    rates = {"reference": [], **{run: [] for run in runs}}
    reference_args = references.fit_arguments("keras_io_vae", ds.x_train)
    for round_ in range(repeats):
        rates["reference"].append(
            rate(reference, reference_args, references.REFERENCE_BATCH, steps, "float32")
        )
        for mode, size in runs:
            n = max(4, steps * references.REFERENCE_BATCH // size)
            rates[mode, size].append(rate(models[mode], dict(x=streams[size]), size, n, mode))
        say(f"end to end round {round_ + 1}/{repeats}")
    rows = [
        {
            "run": f"keras_io_vae (batch {references.REFERENCE_BATCH}, float32)",
            "images_per_second": round(statistics.median(rates["reference"]), 1),
        }
    ]
    for mode, size in runs:
        rows.append(
            {
                "run": f"vae@reference (batch {size}, {mode})",
                "precision": mode,
                "batch": size,
                "images_per_second": round(statistics.median(rates[mode, size]), 1),
                "ratio_to_reference": timing.median_ratio(rates[mode, size], rates["reference"]),
            }
        )
    return rows


# --------------------------------------------------------------------------------- report
def markdown(result: dict) -> str:
    lines = [
        "# Layer speed: the keras.io VAE's training step, taken apart",
        "",
        f"`{result['command']}` — {result['machine']}. Batch {result['batch']}; medians over "
        f"{result['repeats']} alternating rounds; a speedup is a median of per-round ratios.",
        "",
        "## 1. Each layer's training cost (forward + backward) by precision",
        "",
        "mixed_bfloat16: the Keras dtype policy; onednn_bfloat16: the float32 layer, its "
        "compiled step rewritten to bfloat16 by TF (convae_tf/training/precision.py).",
        "",
        "| layer | float32 ms | mixed_bfloat16 ms | onednn_bfloat16 ms | speedup mixed | "
        "speedup onednn |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["layers"].items():
        lines.append(
            f"| {name} | {row['float32_ms']:.2f} | {row['mixed_bfloat16_ms']:.2f} | "
            f"{row['onednn_bfloat16_ms']:.2f} | {row['mixed_bfloat16_speedup']:.2f}× | "
            f"{row['onednn_bfloat16_speedup']:.2f}× |"
        )
    lines += [
        "",
        "## 2. Exact rewrites of the stride-2 Conv2DTranspose (forward + backward)",
        "",
        f"Useful GFLOP/s against this machine's float32 matmul peak of {result['peak']:.0f} "
        "(bfloat16 can exceed it).",
        "",
        "| layer | dtype | implementation | ms | GFLOP/s | speed vs conv2d_transpose |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for label, per_dtype in result["rewrites"].items():
        for dtype, per_impl in per_dtype.items():
            for name, row in per_impl.items():
                lines.append(
                    f"| {label} | {dtype} | {name} | {row['ms']:.2f} | "
                    f"{row['gflops_per_second']:.0f} | {row['speedup']:.2f}× |"
                )
    lines += [
        "",
        "## 3. End to end: our `vae` at the reference's architecture, by precision and batch",
        "",
        "| run | images/s | ratio to the reference |",
        "| --- | ---: | ---: |",
    ]
    for row in result["end_to_end"]:
        ratio = row.get("ratio_to_reference")
        lines.append(
            f"| {row['run']} | {row['images_per_second']:.0f} | "
            f"{f'{ratio:.2f}×' if ratio else '(reference)'} |"
        )
    return "\n".join(lines) + "\n"


def readme_summary(result: dict) -> str:
    layers_ = {k: v for k, v in result["layers"].items() if k != "all layers"}
    total = result["layers"]["all layers"]

    def spread(mode):
        values = [row[f"{mode}_speedup"] for row in layers_.values()]
        return f"{min(values):.2f}–{max(values):.2f}× (all layers: {total[f'{mode}_speedup']:.2f}×)"

    rewrites = [
        row["speedup"]
        for per_dtype in result["rewrites"].values()
        for per_impl in per_dtype.values()
        for name, row in per_impl.items()
        if name != KERAS_WAY
    ]
    shares = "–".join(
        f"{100 * per_dtype['float32'][KERAS_WAY]['gflops_per_second'] / result['peak']:.0f}%"
        for per_dtype in result["rewrites"].values()
    )
    runs = ", ".join(
        f"{row['ratio_to_reference']:.2f}× ({row['precision']}, batch {row['batch']})"
        for row in result["end_to_end"]
        if "ratio_to_reference" in row
    )
    return (
        f"Generated by `{result['command']}` ({result['seconds']:.0f} s; full tables in "
        "`experiments/results/layer_speed.md`), batch "
        f"{result['batch']}, medians of {result['repeats']} alternating rounds. Against float32, "
        "each of the keras.io VAE's layers trains (forward + backward) at "
        f"{spread('mixed_bfloat16')} under the Keras mixed_bfloat16 policy and at "
        f"{spread('onednn_bfloat16')} under TF's oneDNN bfloat16 rewrite. Exact rewrites of its "
        "stride-2 `Conv2DTranspose` (a sub-pixel convolution, four phase convolutions, matmul + "
        f"col2im) run at {min(rewrites):.2f}–{max(rewrites):.2f}× the speed of TF's "
        f"`conv2d_transpose`, which itself runs at {shares} of the float32 matmul peak in "
        f"float32. End to end, our `vae` at that architecture trains at {runs} the "
        "reference's images/s.\n"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=references.REFERENCE_BATCH)
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds")
    parser.add_argument("--steps", type=int, default=20, help="timed passes per measurement")
    parser.add_argument("--batch_sizes", default="128,256,512")
    parser.add_argument("--out", default=str(report.RESULTS))
    parser.add_argument("--quick", action="store_true", help="a smoke test: tiny and fast")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.repeats, args.steps, args.batch_sizes = 8, 1, 2, "16,32"
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.time()
    batch_sizes = [int(s) for s in args.batch_sizes.split(",")]
    result = {
        "command": report.command("layer_speed", argv),
        "machine": f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}, Keras {keras.__version__}",
        "batch": args.batch,
        "repeats": args.repeats,
    }
    result["peak"] = round(timing.measure_peak(0.2 if args.quick else 3.0), 1)
    result["layers"] = layer_table(args.batch, args.repeats, args.steps)
    result["rewrites"] = rewrite_table(args.batch, args.repeats, args.steps)
    result["end_to_end"] = end_to_end_table(batch_sizes, args.repeats, args.steps * 3, args.quick)
    result["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    report.write_results(out, "layer_speed", result, markdown(result))
    if report.quotes_in_readme(out, args.quick):
        report.replace_readme_block("layer_speed", readme_summary(result))
    say(f"done in {result['seconds']} s: {out / 'layer_speed.json'}, {out / 'layer_speed.md'}")
    return result


if __name__ == "__main__":
    main()
