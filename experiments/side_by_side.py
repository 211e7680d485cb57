r"""A keras.io reference trained side by side with a finished anchor run, on the run's own data.

    python -m experiments.side_by_side --workdir=runs/anchors/dae-mnist \
        --reference=keras_io_denoiser
    python -m experiments.side_by_side --workdir=runs/anchors/vae-mnist --reference=keras_io_vae

The reference, as published (experiments/references.py), trains on exactly the images the run
trained on (the run's train split less its validation part), and is measured on the test images
that `python -m convae_tf.evaluate --workdir=...` measures, with the same noise draws (seed 0):

- `keras_io_denoiser`: noisy → clean pairs, Gaussian noise of factor 0.4 clipped to [0, 1],
  drawn once (as the example does); `--clean_epochs` on clean → clean pairs first (keras.io: 50,
  then 100 noisy). Measured: evaluate's `denoising` section (PSNR against the clean images).
- `keras_io_vae`: the example's own loss (BCE summed over pixels + KL), batch 128. Measured:
  the per-image negative ELBO at the posterior mean, the reference's and ours (the run's
  `reconstruction_score`, the same quantity), in float32, on the same images.

Writes `WORKDIR/reference.json` (what trained, how long, the figures) and the reference's
denoising figures under `WORKDIR/reference_figures/`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from convae_tf.artifacts import run_folder
from convae_tf.evaluation import applications, splits
from convae_tf.training import precision
from convae_tf.utils import files
from experiments import references

# keras.io: `noise_factor * np.random.normal(size=...)`, clipped; the evaluation's σ 0.4 level.
NOISE_FACTOR = 0.4
EVALUATION_BATCH = 1000


def say(message: str) -> None:
    print(f"[side by side] {message}", flush=True)


def run_arrays(run, quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """(the run's training images, the test images evaluate measures)."""
    if run.normal_classes is not None:
        raise SystemExit("side_by_side compares runs trained on every class (no --normal_classes)")
    source = splits.load_source(run)
    # The run validated on the first train images and trained on the rest.
    train = splits.split_examples(run, source, "train").skip(splits.validation_count(run, source))
    limit = 1024 if quick else None
    x_train, _ = splits.to_arrays(train, limit=limit)
    x_test, _ = splits.to_arrays(splits.split_examples(run, source, "test"), limit=limit)
    return x_train, x_test


def denoiser(x_train, x_test, args, out: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    noisy = np.clip(x_train + NOISE_FACTOR * rng.normal(size=x_train.shape), 0, 1)
    model = references.keras_io_denoiser(x_train.shape[1:])
    started = time.perf_counter()
    with precision.graph_rewrite("float32"):
        for pairs, epochs in (
            ((x_train, x_train), args.clean_epochs),
            ((noisy, x_train), args.epochs),
        ):
            if epochs:
                say(f"keras.io denoiser: {epochs} epochs on {len(x_train)} images")
                model.fit(
                    *pairs,
                    epochs=epochs,
                    batch_size=references.REFERENCE_BATCH,
                    shuffle=True,
                    verbose=2,
                )
    seconds = time.perf_counter() - started
    written: list[Path] = []
    section = applications.denoising(model, x_test, 0, out / "reference_figures", written)
    return {
        "clean_epochs": args.clean_epochs,
        "noisy_epochs": args.epochs,
        "train_seconds": round(seconds, 1),
        "denoising": section,
        "figures": sorted(str(p.relative_to(out)) for p in written),
    }


def vae(run, x_train, x_test, args) -> dict:
    model = references.keras_io_vae(x_train.shape[1:])
    started = time.perf_counter()
    say(f"keras.io VAE: {args.epochs} epochs on {len(x_train)} images")
    with precision.graph_rewrite("float32"):
        model.fit(
            x_train,
            epochs=args.epochs,
            batch_size=references.REFERENCE_BATCH,
            shuffle=True,
            verbose=2,
        )
    seconds = time.perf_counter() - started
    with precision.graph_rewrite("float32"):
        theirs = splits.in_batches(model.negative_elbo, x_test, EVALUATION_BATCH)
        ours = splits.in_batches(run.model.reconstruction_score, x_test, EVALUATION_BATCH)
    return {
        "epochs": args.epochs,
        "train_seconds": round(seconds, 1),
        "test_negative_elbo": float(np.mean(theirs)),
        "ours_test_negative_elbo": float(np.mean(ours)),
        "measure": "per-image negative ELBO in nats at the posterior mean, float32",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a finished run (model.keras)")
    parser.add_argument("--reference", required=True, choices=sorted(references.REFERENCES))
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs (noisy epochs for the denoiser; default: the run's)",
    )
    parser.add_argument(
        "--clean_epochs",
        type=int,
        default=0,
        help="denoiser: clean → clean epochs before the noisy ones",
    )
    parser.add_argument("--seed", type=int, default=0, help="weights, shuffling and noise")
    parser.add_argument("--quick", action="store_true", help="1,024 images, for smoke tests")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    keras.utils.set_random_seed(args.seed)
    run = run_folder.load_run(workdir)
    if args.reference == "keras_io_vae" and not run.model.is_variational:
        # Our side of the comparison is the run's negative ELBO: only a VAE has one.
        raise SystemExit(f"--reference=keras_io_vae compares VAE runs; {workdir} is not one")
    x_train, x_test = run_arrays(run, args.quick)
    if args.epochs is None:
        args.epochs = int(run.train["epochs"])
    if args.reference == "keras_io_denoiser":
        result = denoiser(x_train, x_test, args, workdir)
    else:
        result = vae(run, x_train, x_test, args)
    result |= {
        "reference": args.reference,
        "train_examples": len(x_train),
        "test_examples": len(x_test),
        "seed": args.seed,
    }
    files.save_json(result, workdir / "reference.json")
    say(f"wrote {workdir / 'reference.json'}")


if __name__ == "__main__":
    main()
