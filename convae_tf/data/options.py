"""The options of `make_pipelines`, each default, help line and bound written once.

`make_pipelines` checks the values it is given with `PipelineOptions.validate`; the training
config (`convae_tf/training/config.py`) makes its flags from the same fields (`default_and_help`)
and checks them against the same bounds (`RANGES`), stating a bad value as its flag.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping

from convae_tf.errors import DataError


@dataclasses.dataclass(frozen=True)
class Range:
    """Where a numeric option may lie: at least `low`, or strictly between `low` and `high`."""

    low: int
    high: int | None = None

    def holds(self, value) -> bool:
        if self.high is None:
            return value >= self.low
        return self.low < value < self.high

    def in_words(self) -> str:
        """As a flag's error states it: "--NAME=VALUE must be <this>"."""
        if self.high is not None:
            return f"between {self.low} and {self.high}"
        return f"at least {self.low}" if self.low else "0 or more"

    def in_symbols(self) -> str:
        """As the library's error states it: "use a number <this>"."""
        if self.high is not None:
            return f"in ({self.low}, {self.high})"
        return f">= {self.low}"


def _option(default, help: str, bound: Range | None = None):
    return dataclasses.field(default=default, metadata={"help": help, "range": bound})


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    """How `make_pipelines` splits, shuffles, caches and binarises a source."""

    validation_fraction: float = _option(
        0.1, "Share of the train split held out for validation.", Range(0, 1)
    )
    # When the train split is neither cached nor streamed from files (there the whole split is
    # shuffled), the shuffle buffer holds decoded images: its size bounds that memory.
    shuffle_buffer: int = _option(
        10_000,
        "Most decoded images the train shuffle holds when the split is neither cached in "
        "memory nor read from image files (TFDS, npz, idx, tfrecord above --cache_budget_mb); "
        "cached splits and folder: file lists are shuffled whole.",
        Range(1),
    )
    cache_budget_mb: float = _option(
        1024,
        "MiB of decoded float32 images kept in memory for validation, then train; a split that "
        "does not fit is read again each pass (0: never cache). The test split is not cached.",
        Range(0),
    )
    binarize: bool = _option(
        False,
        "Dynamic binarisation, as likelihood papers use MNIST: each pixel p becomes 1 with "
        "probability p, drawn afresh for the train images every epoch; validation and test are "
        "binarised once with fixed seeds (evaluate, embed and export apply the same).",
    )

    crop: tuple[int, int] | None = _option(
        None,
        "Train on random H,W crops of the images (several per image per pass, new ones every "
        "epoch); validation and test take fixed crops. A folder: of photos may then mix sizes "
        "(each at least H,W; the channels are those of its first file or --channels).",
    )
    crops_per_image: int = _option(
        8,
        "Crops taken from each image per pass with --crop (and fixed crops per validation and "
        "test image); the train crops are shuffled in a buffer of at most --shuffle_buffer.",
        Range(1),
    )

    @classmethod
    def of_run(cls, train: Mapping) -> PipelineOptions:
        """The options a run trained with, from the "train" section of its config.json (a
        field that an older config lacks takes its default)."""
        given = {name: train[name] for name in _FIELDS if train.get(name) is not None}
        if "crop" in given:
            given["crop"] = tuple(given["crop"])  # a list in JSON
        return cls(**given)

    def validate(self) -> PipelineOptions:
        """Raises a DataError naming the first value out of its range; returns `self`."""
        for name, bound in RANGES.items():
            value = getattr(self, name)
            if not _is_number(value) or not bound.holds(value):
                raise DataError(f"{name}={value!r} is invalid; use a number {bound.in_symbols()}")
        if self.crop is not None and not is_size(self.crop):
            raise DataError(f"crop={self.crop!r} is invalid; pass two positive ints (H, W)")
        return self


_FIELDS = {field.name: field for field in dataclasses.fields(PipelineOptions)}
# The bounded options, in the order they are checked.
RANGES: dict[str, Range] = {
    name: field.metadata["range"] for name, field in _FIELDS.items() if field.metadata["range"]
}


def default_and_help(name: str) -> tuple[object, str]:
    """(default, help) of option `name`, the form of a config field."""
    field = _FIELDS[name]
    return field.default, field.metadata["help"]


def is_size(value) -> bool:
    """Whether `value` is (H, W): two positive ints (a bool is no size)."""
    try:
        height, width = value
    except (TypeError, ValueError):
        return False
    return all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
        for v in (height, width)
    )


def _is_number(value) -> bool:
    # numbers.Real covers numpy scalars too; a bool is an int to Python but never a size here.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
