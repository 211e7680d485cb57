"""A trained model made deeper without changing what it computes, so training can go on from it.

    python -m experiments.deepen --source=runs/denoise-photo-long --block_convs=3,2,2 \
        --out=runs/deepened/model.keras
    python -m convae_tf.train --config=... --model_args=block_convs=3,2,2 \
        --init_from=runs/deepened/model.keras

Net2DeeperNet (Chen, Goodfellow & Shlens 2016, "Net2Net"): each convolution that the new
`block_convs` adds to a block starts as the identity (the centre tap of its kernel is the unit
matrix, the bias zero). It follows a ReLU convolution of the same width, so its input is
non-negative and ReLU(identity(x)) = x: the deeper model's output equals the source's, and
training starts from the trained function instead of from scratch. Every other layer takes the
source's weights by name. The function is checked on random images before the file is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# convae_tf before keras: its import quiets TensorFlow's start-up logs (utils/quiet.py) and
# registers the model classes that load_model needs.
import convae_tf  # noqa: F401  isort: skip
import keras
import numpy as np

from convae_tf.artifacts import run_folder


def identity_kernel(shape) -> np.ndarray:
    """A (k, k, C, C) kernel whose convolution (padding "same") returns its input."""
    size, _, channels_in, channels_out = shape
    kernel = np.zeros(shape, np.float32)
    kernel[size // 2, size // 2] = np.eye(channels_in, channels_out, dtype=np.float32)
    return kernel


def _layers_with_weights(model: keras.Model) -> dict[str, keras.layers.Layer]:
    found = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if layer.weights and not isinstance(layer, keras.Model):
            found.setdefault(layer.name, layer)
    return found


def deepen(source: keras.Model, block_convs) -> keras.Model:
    """A new model of `source`'s class and config with `block_convs`, computing the same
    function: the source's weights by layer name, identity kernels for the added convolutions."""
    block_convs = tuple(int(n) for n in block_convs)
    old = source.architecture
    if old.normalization != "none" or old.activation != "relu":
        raise ValueError("only ReLU blocks without normalization can start as the identity")
    if len(block_convs) != old.depth:
        raise ValueError(f"block_convs={block_convs}: give {old.depth} counts, one per block")
    if any(new < old.convs(k) for k, new in enumerate(block_convs)):
        raise ValueError(f"block_convs={block_convs} removes convolutions: deepen only adds")
    deeper = type(source).from_config(source.get_config() | {"block_convs": block_convs})
    deeper.build((None, *source.image_shape))
    trained = _layers_with_weights(source)
    for name, layer in _layers_with_weights(deeper).items():
        if name in trained:
            layer.set_weights(trained[name].get_weights())
            continue
        kernel, bias = layer.get_weights()
        if kernel.shape[2] != kernel.shape[3]:
            raise ValueError(f"{name}: an added convolution must keep its input's width")
        layer.set_weights([identity_kernel(kernel.shape), np.zeros_like(bias)])
    return deeper


def main(argv=None):
    # argparse, not absl flags: the flags of every experiments module share one registry when
    # tests import them together, and photo_pyramid already defines --source.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="a finished run's workdir or .keras file")
    parser.add_argument(
        "--block_convs", required=True, help="convolutions per encoder block, e.g. 3,2,2"
    )
    parser.add_argument("--out", required=True, help="the .keras file to write")
    args = parser.parse_args(argv)
    try:
        counts = [int(n) for n in args.block_convs.split(",")]
    except ValueError:
        raise SystemExit(
            f"deepen: --block_convs={args.block_convs} must be integers, one per block, e.g. 4,2,2"
        ) from None
    path = Path(args.source)
    path = path / "model.keras" if path.is_dir() else path
    if not path.is_file():
        raise SystemExit(f"deepen: --source={args.source}: no such .keras file or finished run")
    try:
        source = keras.saving.load_model(path, compile=False)
        deeper = deepen(source, counts)
    except ValueError as error:  # a wrong count or kind of network, a foreign file
        raise SystemExit(f"deepen: {error}") from None
    images = np.random.default_rng(0).uniform(size=(2, *source.image_shape)).astype(np.float32)
    gap = float(np.max(np.abs(deeper(images) - source(images))))
    # float32 sums in another order at most: far below one 8-bit level (1/255).
    if gap > 1e-4:
        raise SystemExit(f"the deeper model differs from {path} by {gap:.2g}: not written")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_folder.save_model(deeper, out)
    counts = ",".join(map(str, deeper.block_convs))
    print(f"[deepen] {out}: block_convs={counts}, same output as {path} (max gap {gap:.1g})")


if __name__ == "__main__":
    main()
