"""Datasets as tf.data pipelines of float32 images in [0, 1]; imports nothing else from convae_tf.

source = load_source("sprites")  # or "mnist", "npz:PATH", "folder:PATH", "idx:DIR", ...
pipes = make_pipelines(source, batch_size=64)
"""

from convae_tf.data import binarize
from convae_tf.data.image_files import BAD_FILES, named_file_errors
from convae_tf.data.ops import resize, to_unit_float
from convae_tf.data.options import PipelineOptions
from convae_tf.data.pipeline import (
    DEFAULT_CACHE_BUDGET_MB,
    DEFAULT_SHUFFLE_BUFFER,
    Pipelines,
    fixed_split,
    make_pipelines,
    split_shape,
)
from convae_tf.data.source import SPEC_FORMS, Source
from convae_tf.data.sources import CHANNELS, CHANNELS_HELP, DEFAULT_DATASET, load_source
from convae_tf.errors import DataError

__all__ = [
    "BAD_FILES",
    "CHANNELS",
    "CHANNELS_HELP",
    "DEFAULT_CACHE_BUDGET_MB",
    "DEFAULT_SHUFFLE_BUFFER",
    "DEFAULT_DATASET",
    "SPEC_FORMS",
    "DataError",
    "PipelineOptions",
    "Pipelines",
    "Source",
    "binarize",
    "fixed_split",
    "load_source",
    "make_pipelines",
    "named_file_errors",
    "resize",
    "split_shape",
    "to_unit_float",
]
