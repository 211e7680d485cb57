"""File size, parity and batch-1 latency of every export format, on a default-sized model.

Command:
    python -m experiments.export_sizes            # trains runs/export-sizes-ae (ae defaults)
    python -m experiments.export_sizes --workdir=runs/ae-sprites   # an existing run instead

Trains the `ae` model with its default filters and latent size on the embedded sprites data
(32×32×1; a short run: sizes do not depend on training, parity barely), exports it with
`--quantize=all`, times batch-1 inference of the SavedModel and of each .tflite file, and
writes experiments/results/export_sizes.{md,json}. The markdown table is pasted in the README.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from experiments import report, timing

LATENCY_CALLS, WARMUP_CALLS = 200, 10


def train_default_model(workdir: Path) -> None:
    from convae_tf.training import config, train

    if (workdir / "model.keras").is_file():
        return
    cfg = config.get_config()
    cfg.update(
        model="ae",
        dataset="sprites",
        epochs=2,
        steps_per_epoch=100,
        batch_size=64,
        workdir=str(workdir),
    )
    train.train_and_evaluate(cfg, overwrite=True)


def batch1_latency_ms(runner, images: np.ndarray) -> float:
    """Median time of one `serving_default` call on one image (the images in turn), after
    warm-up calls."""
    one_at_a_time = itertools.cycle(images[:, None])
    seconds = timing.time_calls(
        lambda: runner("serving_default", next(one_at_a_time)), LATENCY_CALLS, WARMUP_CALLS
    )
    return seconds * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/export-sizes-ae")
    parser.add_argument("--out", default="exported_models/export-sizes-ae")
    args = parser.parse_args()

    from convae_tf.deploy import export, predict

    workdir = Path(args.workdir)
    train_default_model(workdir)
    started = time.time()
    version_dir = export.export(workdir, args.out, quantize="all")
    export_seconds = time.time() - started
    card = json.loads((version_dir / "model_card.json").read_text())
    images = np.random.default_rng(0).random((32, *card["input"]["shape"][1:]), np.float32)

    rows = []
    for name in ("saved_model", "float32", "dynamic", "float16", "int8"):
        info = card["files"][name]
        path = version_dir / info["path"]
        runner = (
            predict.SavedModelRunner(path) if name == "saved_model" else predict.TFLiteRunner(path)
        )
        parity = card["parity"]["exports"][name]
        rows.append(
            {
                "format": name,
                "file": info["path"] if name != "saved_model" else "<version>/ (SavedModel)",
                "bytes": info["bytes"],
                "reconstruction_max_abs_diff": parity["max_abs_diff"][
                    "serving_default/reconstruction"
                ],
                "max_abs_diff": parity["max_abs_diff"],
                "psnr_change_db": parity["psnr_change_db"],
                "batch1_latency_ms": batch1_latency_ms(runner, images),
            }
        )
    float32 = next(r["bytes"] for r in rows if r["format"] == "float32")
    saved_model_ms = next(r["batch1_latency_ms"] for r in rows if r["format"] == "saved_model")
    lines = [
        "| format | file | size | vs float32 .tflite | reconstruction max abs diff vs Keras "
        "| PSNR change "
        "| batch-1 latency (vs SavedModel) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['format']} | `{r['file']}` | {r['bytes'] / 1024:,.0f} KiB "
            f"| {r['bytes'] / float32:.0%} | {r['reconstruction_max_abs_diff']:.1e} "
            f"| {r['psnr_change_db']:+.3f} dB "
            f"| {r['batch1_latency_ms']:.3f} ms ({r['batch1_latency_ms'] / saved_model_ms:.2f}×) |"
        )
    summary = {
        "model": card["model"]["name"],
        "model_config": card["model"]["config"],
        "input_shape": card["input"]["shape"],
        "parameters": card["parameters"],
        "flops_per_image": card["flops_per_image"]["reconstruct"],
        "export_seconds_all_quantizations": round(export_seconds, 1),
        "export": str(version_dir),
        "rows": rows,
    }
    header = (
        f"`ae` with its defaults (filters (32, 64), latent_dim 16) on sprites 32×32×1: "
        f"{card['parameters']:,} parameters, {card['flops_per_image']['reconstruct']:,} FLOPs "
        f"per image; export with --quantize=all took {export_seconds:.0f} s. Latency: median "
        f"of {LATENCY_CALLS} single-image `serving_default` calls on this 2-core CPU (the "
        "SavedModel through tf.saved_model.load, .tflite through LiteRT, default threads).\n\n"
    )
    report.write_results(report.RESULTS, "export_sizes", summary, header + "\n".join(lines) + "\n")
    print(header + "\n".join(lines))


if __name__ == "__main__":
    main()
