"""Progress of long work: a line per stage, and a counter for a step over many items.

On a terminal the counter is Keras's progress bar; in a log (stdout not a terminal) the bar's
escape codes and redraws would be noise, so it writes a plain line at a tenth of the way at
most, and at least a minute after the last one (a short step stays silent), the way
`fit(verbose=2)` writes a line per epoch rather than a bar.
"""

from __future__ import annotations

import sys
import time

import keras

LOG_LINES = 10  # lines per counted step in a log, at most
LOG_INTERVAL = 60.0  # seconds between two of them, at least


def stage(message: str) -> None:
    print(f"[convae_tf] {message}", flush=True)


class Counter:
    """`update(done)` after each chunk of a step over `total` items called `unit`s."""

    def __init__(self, total: int, label: str, unit: str = "image"):
        self.total, self.label, self.unit = int(total), label, unit
        self.started = self.last_line = time.time()
        self.logged = 0  # tenths already written to a log
        self.bar = None
        if sys.stdout.isatty():
            self.bar = keras.utils.Progbar(self.total, unit_name=unit, interval=0.5)

    def update(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done)
            return
        tenth = done * LOG_LINES // max(self.total, 1)
        now = time.time()
        if tenth <= self.logged or now - self.last_line < LOG_INTERVAL:
            return
        self.logged, self.last_line = tenth, now
        elapsed = now - self.started
        left = elapsed * (self.total - done) / max(done, 1)
        stage(
            f"{self.label}: {done}/{self.total} {self.unit}s, {_minutes(elapsed)}"
            + (f", about {_minutes(left)} left" if done < self.total else "")
        )


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
