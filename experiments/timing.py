"""How the experiments time things, the same way for ours and the references.

- Training: `fit_rate` — a warm-up `fit` of a few steps (tracing, caches), then a `fit` whose
  per-step completion times a callback records; images/s is counted between the first and the
  last step of that fit, so set-up and the first step are excluded.
- Calls (inference): `time_calls` — the median of repeated calls after warm-up calls.
- The machine: `measure_peak` — the practical arithmetic peak, from a large matmul chain.
- Comparisons: every timing alternates its candidates in rounds, and `median_ratio` is the
  median of the per-round ratios (drifts in machine load hit both sides of a ratio alike).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf


class StepTimes(keras.callbacks.Callback):
    """The `time.perf_counter()` at the end of every training step."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def fit_rate(model: keras.Model, fit_args: dict, batch: int, steps: int, warmup: int) -> float:
    """Images/s between the first and the last of `steps` steps, after a warm-up fit."""
    model.fit(**fit_args, epochs=1, steps_per_epoch=warmup, verbose=0)
    timer = StepTimes()
    model.fit(**fit_args, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    return (len(timer.times) - 1) * batch / (timer.times[-1] - timer.times[0])


def time_calls(call: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds per call, after `warmup` calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_peak(seconds: float, dtype=tf.float32) -> float:
    """GFLOP/s of a 2048×2048 matmul chain, best of several timed bursts."""
    n = 2048
    a = tf.cast(tf.random.uniform((n, n)), dtype)
    b = tf.cast(tf.random.uniform((n, n)) / n, dtype)

    @tf.function
    def chain(x):
        for _ in range(4):
            x = tf.matmul(x, b)
        return x

    chain(a).numpy()
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline or best == 0.0:
        start = time.perf_counter()
        chain(a).numpy()
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def median_ratio(ours: Sequence[float], reference: Sequence[float]) -> float | None:
    """Median over rounds of ours[i] / reference[i] (rounds with a zero skipped), 3 decimals."""
    pairs = [a / b for a, b in zip(ours, reference, strict=True) if a and b]
    return round(statistics.median(pairs), 3) if pairs else None
