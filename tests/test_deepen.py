"""experiments/deepen.py: a trained model made deeper computes what it computed."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import images, tiny_model

from experiments import deepen

DENOISER = {
    "bottleneck": "conv",
    "latent_dim": 64,  # 4 channels on the 4×4 grid of 16×16 images
    "skip_connections": True,
    "residual": True,
    "block_convs": 2,
}


def trained_denoiser(**overrides):
    model = tiny_model("dae", **{**DENOISER, **overrides})
    # A few steps, so the weights are not the initializer's and the biases not zero.
    model.fit(images(batch=8), epochs=3, batch_size=4, verbose=0)
    return model


def test_deepened_model_gives_the_same_output_with_more_convolutions():
    source = trained_denoiser()
    deeper = deepen.deepen(source, [4, 2])
    x = images(seed=1)
    # Each added convolution multiplies by exact ones and zeros: only float32 rounding of the
    # zero terms' sums could differ, far below one 8-bit level.
    np.testing.assert_allclose(deeper(x), source(x), atol=1e-5)
    assert deeper.block_convs == (4, 2)
    assert deeper.count_params() == source.count_params() + 2 * 2 * (9 * 4 * 4 + 4)


@pytest.mark.parametrize(
    "overrides, block_convs, word",
    [
        ({}, [1, 2], "removes"),
        ({}, [3, 2, 2], "one per block"),
        ({"normalization": "batch"}, [3, 2], "normalization"),
    ],
)
def test_deepen_refuses_what_it_cannot_keep_the_same(overrides, block_convs, word):
    with pytest.raises(ValueError, match=word):
        deepen.deepen(trained_denoiser(**overrides), block_convs)


def test_command_names_a_missing_source_and_writes_nothing(tmp_path):
    out = tmp_path / "deeper.keras"
    args = [f"--source={tmp_path / 'no-run'}", "--block_convs=3,2", f"--out={out}"]
    with pytest.raises(SystemExit, match="no-run: no such .keras file or finished run"):
        deepen.main(args)
    assert not out.exists()
