"""The experiments' data: the embedded sprites and an npz file in the keras mnist.npz layout.

Without an npz given, MNIST from `~/.keras/datasets/mnist.npz` if it exists, else a synthetic
MNIST-like npz (60000 + 10000 28×28×1 rendered, rotated digits) written once under
`runs/benchmark/`; the experiments say which in their output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convae_tf import data

MNIST = Path("~/.keras/datasets/mnist.npz").expanduser()
SYNTHETIC = Path(__file__).resolve().parents[1] / "runs" / "benchmark" / "synthetic_digits.npz"
QUICK_TRAIN_EXAMPLES = 1024  # --quick: the first examples of the train split (test: a quarter)


def say(message: str) -> None:
    print(f"[datasets] {message}", flush=True)


def synthetic_digits(n: int, seed: int, size: int = 28) -> np.ndarray:
    """MNIST-like uint8 images: a digit in PIL's scalable font, random size, stroke, rotation
    and shift, drawn at 2× and downsampled (grey anti-aliased edges, like MNIST's)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    fonts = {s: ImageFont.load_default(size=s) for s in range(36, 47)}
    out = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        image = Image.new("L", (2 * size, 2 * size), 0)
        ImageDraw.Draw(image).text(
            (size, size),
            str(int(rng.integers(10))),
            fill=255,
            font=fonts[int(rng.integers(36, 47))],
            anchor="mm",
            stroke_width=int(rng.integers(1, 4)),
            stroke_fill=255,
        )
        image = image.rotate(
            float(rng.uniform(-20, 20)),
            resample=Image.BILINEAR,
            translate=(float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))),
        )
        out[i] = np.asarray(image.resize((size, size), Image.BILINEAR))
    return out


def npz_path(arg: str | None, quick: bool) -> tuple[Path, str]:
    """(the npz to use, what it is): `arg` if given, else MNIST, else synthetic digits (a small
    file for --quick, so that a smoke run does not render 70000 digits)."""
    if arg:
        return Path(arg).expanduser(), "given on the command line"
    if MNIST.is_file() and not quick:
        return MNIST, "keras.datasets MNIST"
    path = SYNTHETIC.with_name("synthetic_digits_quick.npz") if quick else SYNTHETIC
    n_train, n_test = (512, 256) if quick else (60000, 10000)
    if not path.is_file():
        say(f"MNIST is absent: writing a synthetic MNIST-like npz ({n_train} + {n_test}) to {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, x_train=synthetic_digits(n_train, 1), x_test=synthetic_digits(n_test, 2)
        )
    return path, f"synthetic MNIST-like digits ({n_train} + {n_test}, MNIST absent)"


class Dataset:
    """One dataset in both forms: numpy arrays for the references' `fit`, and our pipeline
    (`pipes`, batches of `batch_size`). `quick` keeps the first QUICK_TRAIN_EXAMPLES."""

    def __init__(self, spec: str, data_dir: str | None, batch_size: int, quick: bool = False):
        self.source = source = data.load_source(spec, data_dir=data_dir)
        self.spec, self.image_shape = spec, tuple(source.image_shape)
        self.pipes = data.make_pipelines(source, batch_size=batch_size, seed=0)
        train = source.train.map(lambda ex: ex["image"])
        test = source.test.map(lambda ex: ex["image"])
        if quick:
            n = QUICK_TRAIN_EXAMPLES
            train, test = train.take(n), test.take(max(n // 4, 64))
        self.x_train = np.concatenate(list(train.batch(4096).as_numpy_iterator()))
        self.x_test = np.concatenate(list(test.batch(4096).as_numpy_iterator()))
