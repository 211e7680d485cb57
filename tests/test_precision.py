"""convae_tf.training.precision: what each --precision value builds and runs."""

import numpy as np
import pytest
import tensorflow as tf

from convae_tf.training import precision
from convae_tf.utils import bfloat16

needs_bfloat16_cpu = pytest.mark.skipif(
    not bfloat16.native_bfloat16(),
    reason="TF applies the oneDNN bfloat16 rewrite only on CPUs with native bfloat16",
)


def test_explicit_values_resolve_to_themselves_and_auto_follows_the_cpu():
    for name in precision.PRECISIONS[1:]:
        assert precision.resolve(name) == name
    gpu = tf.config.list_physical_devices("GPU")
    expected = "onednn_bfloat16" if bfloat16.native_bfloat16() and not gpu else "float32"
    assert precision.resolve("auto") == expected


def test_the_graph_rewrite_builds_a_float32_model():
    assert precision.keras_policy("onednn_bfloat16") == "float32"
    assert precision.keras_policy("mixed_bfloat16") == "mixed_bfloat16"
    assert precision.keras_policy("float32") == "float32"


def _conv_step():
    """A compiled convolution whose float32 result carries more digits than bfloat16 keeps."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(4, 16, 16, 32)), tf.float32)
    kernel = tf.constant(rng.uniform(size=(3, 3, 32, 32)), tf.float32)
    return tf.function(lambda: tf.nn.conv2d(x, kernel, 1, "SAME")), x, kernel


@needs_bfloat16_cpu
def test_graph_rewrite_runs_compiled_convolutions_in_bfloat16_only_inside():
    step, x, kernel = _conv_step()
    exact = tf.nn.conv2d(x, kernel, 1, "SAME").numpy()  # eager: never rewritten
    with precision.graph_rewrite("onednn_bfloat16"):
        rewritten = step().numpy()
    after = step().numpy()
    relative = np.max(np.abs(rewritten - exact)) / np.max(np.abs(exact))
    assert 1e-4 < relative < 5e-2  # bfloat16 rounding: 8 bits of mantissa
    np.testing.assert_allclose(after, exact, rtol=1e-5)  # off again once the block ends


def test_graph_rewrite_is_off_for_other_precisions_and_restores_the_setting():
    option = bfloat16.REWRITE_OPTION
    tf.config.optimizer.set_experimental_options({option: True})
    try:
        with precision.graph_rewrite("mixed_bfloat16"):
            assert tf.config.optimizer.get_experimental_options()[option] is False
        assert tf.config.optimizer.get_experimental_options()[option] is True
    finally:
        tf.config.optimizer.set_experimental_options({option: False})
