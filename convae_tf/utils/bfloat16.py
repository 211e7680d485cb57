"""TF's oneDNN bfloat16 rewrite on CPUs: whether this CPU computes bfloat16 natively, and a
block inside which compiled functions run their convolutions and matmuls in bfloat16.

The rewrite (grappler's `auto_mixed_precision_onednn_bfloat16` pass) is a process-wide TF
option read when a compiled function is called: training switches it on around `fit`
(training/precision.py), predict around its SavedModel calls (deploy/predict.py). The
stand-alone deploy/predict.py loads this file by its path: keep its imports to the standard
library, and TensorFlow imported inside the functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

REWRITE_OPTION = "auto_mixed_precision_onednn_bfloat16"


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def auto() -> bool:
    """What "auto" picks: the rewrite on a CPU-only machine whose CPU has native bfloat16,
    where it computes about twice as fast as float32; not on a GPU machine (the rewrite is a
    CPU pass) nor on other CPUs (emulated bfloat16 is slow). Imports TensorFlow on such CPUs."""
    if not native_bfloat16():
        return False
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")


@contextlib.contextmanager
def rewrite(on: bool) -> Iterator[None]:
    """Compiled functions called inside run with the bfloat16 rewrite on if `on`, and off
    otherwise; the previous setting comes back after."""
    import tensorflow as tf

    previous = tf.config.optimizer.get_experimental_options().get(REWRITE_OPTION, False)
    tf.config.optimizer.set_experimental_options({REWRITE_OPTION: on})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({REWRITE_OPTION: previous})
