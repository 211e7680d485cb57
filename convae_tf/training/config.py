"""The training configuration: every default written once (FIELDS), as an ml_collections
ConfigDict (`get_config()`), with the flags of `python -m convae_tf.train` made from it.

An experiment file (`experiments/configs/*.py`) is a runnable record of a run: its docstring
holds the command, and its `get_config()` starts from this `get_config()` and sets what the
experiment changes. Precedence: these defaults < the file (--config=FILE) < --config.FIELD=VALUE <
--FIELD=VALUE (convae_tf.cli). The resolved config is saved as the `train` section of
`config.json`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import ml_collections
from ml_collections.config_dict import placeholder

from convae_tf import cli
from convae_tf.data import BAD_FILES, CHANNELS, CHANNELS_HELP
from convae_tf.data import options as data_options
from convae_tf.errors import ConfigError
from convae_tf.training.precision import PRECISIONS

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
LR_SCHEDULES = ("constant", "cosine")

# name: (default, help). A placeholder is None until set, and says what type a flag parses.
FIELDS: cli.Fields = {
    "model": (
        "vae",
        "Model name; `python -c 'import convae_tf; print(convae_tf.list_models())'` lists them.",
    ),
    "dataset": (
        "sprites",
        "sprites, a TFDS name (mnist, cifar10, ...), npz:PATH, idx:DIR, folder:PATH or "
        "tfrecord:DIR (made by python -m convae_tf.prepare).",
    ),
    "data_dir": (placeholder(str), "TFDS data directory (default: TFDS's own)."),
    "image_size": (
        placeholder(tuple),
        "Resize every image to H,W (default: keep the dataset's size).",
    ),
    "epochs": (20, "Training epochs."),
    "batch_size": (128, "Global batch size (split across replicas)."),
    "learning_rate": (1e-3, "Adam learning rate."),
    "lr_schedule": (
        "constant",
        "constant (Adam at --learning_rate throughout) or cosine (decayed from --learning_rate "
        "to 0 over the run's steps, Loshchilov & Hutter 2017).",
    ),
    "latent_dim": (placeholder(int), "Code size (default: the model's own)."),
    "model_args": (
        {},
        "Model constructor argument as key=value, repeatable: --model_args=pooling=avg "
        "--model_args=filters=32,64; merged over the config file's model_args.",
    ),
    "seed": (0, "Seed of weights, shuffling and noise."),
    "validation_fraction": data_options.default_and_help("validation_fraction"),
    "normal_classes": (
        placeholder(tuple),
        "Train on these labels only (one-class anomaly detection), e.g. 0 or 1,7 "
        "(default: every class).",
    ),
    "shuffle_buffer": data_options.default_and_help("shuffle_buffer"),
    "cache_budget_mb": data_options.default_and_help("cache_budget_mb"),
    "bad_files": (
        "stop",
        "What a folder: image that cannot be read or decoded does when training meets it: "
        "stop (one line naming the file) or skip (dropped; the count and names are reported).",
    ),
    "binarize": data_options.default_and_help("binarize"),
    "channels": (0, CHANNELS_HELP),
    "crop": (placeholder(tuple), data_options.default_and_help("crop")[1]),
    "crops_per_image": data_options.default_and_help("crops_per_image"),
    "test_examples": (
        5000,
        "Test images (the first N of the test split, in its fixed order) that the closing "
        "test measure of a training run reads (0: the whole split); python -m "
        "convae_tf.evaluate measures the whole split.",
    ),
    "strategy": (
        "default",
        "default: one device; mirrored: MirroredStrategy over the visible GPUs (or logical "
        "CPUs); multi_worker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG; tpu: "
        "TPUStrategy.",
    ),
    "logical_cpus": (
        0,
        "Split the CPU into N logical devices (to try --strategy=mirrored without GPUs).",
    ),
    "tpu": ("", "TPU name or grpc:// address for --strategy=tpu (empty: the local TPU VM)."),
    "early_stopping_patience": (0, "Stop after N epochs without a better val_loss (0: never)."),
    "steps_per_epoch": (
        placeholder(int),
        "Train steps per epoch (default: one pass over the data).",
    ),
    "deterministic": (True, "Enable TensorFlow op determinism (same seed, same weights)."),
    "workdir": (placeholder(str), "Output folder (default: runs/<model>-<dataset>)."),
    "init_from": (
        placeholder(str),
        "Start from the weights of a trained model of the same architecture, not from random "
        "ones: a .keras file, a finished run's folder (its model.keras, what export ships), or "
        "an exported model (a version folder, or its parent for the highest version, e.g. "
        "exported_models/denoise-photo). A new optimizer and learning-rate curve: fine-tuning, "
        "or more steps after a finished run.",
    ),
    "precision": (
        "auto",
        f"One of {', '.join(PRECISIONS)}. auto: onednn_bfloat16 (TF rewrites the float32 "
        "training graph to bfloat16) on CPUs with native bfloat16, else float32; mixed_*: a "
        "Keras dtype policy (see convae_tf.training.precision).",
    ),
}


def get_config() -> ml_collections.ConfigDict:
    """The training defaults, a new ConfigDict on every call."""
    return cli.config_from_fields(FIELDS)


def model_kwargs(cfg) -> dict[str, Any]:
    kwargs = cfg.model_args.to_dict()
    if cfg.latent_dim is not None:
        kwargs["latent_dim"] = cfg.latent_dim
    return kwargs


def resolved_workdir(cfg) -> Path:
    if cfg.workdir:
        return Path(cfg.workdir)
    kind, sep, path = cfg.dataset.partition(":")
    # npz:/some/dir/file.npz → npz-file.npz, idx:data/mnist → idx-mnist; tfds names like
    # cifar10/v2 → cifar10-v2.
    path_kinds = ("npz", "folder", "idx", "tfrecord")
    name = f"{kind}-{Path(path).name}" if sep and kind in path_kinds else cfg.dataset
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "data"
    return Path("runs") / f"{cfg.model}-{name}"


def _integers(values) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def validate(cfg) -> ml_collections.ConfigDict:
    """Raises a ConfigError naming the first bad value (as its flag); returns `cfg`."""
    cli.check_fields(cfg, FIELDS, "the config")
    for name in ("image_size", "normal_classes", "crop"):
        if cfg[name] is not None and not _integers(cfg[name]):
            raise ConfigError(f"--{name}={cfg[name]!r} must be comma-separated integers, e.g. 1,7")
    checks = [
        (cfg.epochs >= 1, f"--epochs={cfg.epochs} must be at least 1"),
        (cfg.batch_size >= 1, f"--batch_size={cfg.batch_size} must be at least 1"),
        (cfg.learning_rate > 0, f"--learning_rate={cfg.learning_rate} must be positive"),
        (
            cfg.lr_schedule in LR_SCHEDULES,
            f"--lr_schedule={cfg.lr_schedule!r} is not valid; choose one of "
            f"{', '.join(LR_SCHEDULES)}",
        ),
        _in_data_range(cfg, "validation_fraction"),
        (
            cfg.latent_dim is None or cfg.latent_dim >= 1,
            f"--latent_dim={cfg.latent_dim} must be at least 1",
        ),
        (
            cfg.strategy in STRATEGIES,
            f"--strategy={cfg.strategy!r} is not valid; choose one of {', '.join(STRATEGIES)}",
        ),
        (
            cfg.precision in PRECISIONS,
            f"--precision={cfg.precision!r} is not valid; choose one of {', '.join(PRECISIONS)}",
        ),
        (
            cfg.steps_per_epoch is None or cfg.steps_per_epoch >= 1,
            f"--steps_per_epoch={cfg.steps_per_epoch} must be at least 1",
        ),
        (
            cfg.image_size is None or (len(cfg.image_size) == 2 and min(cfg.image_size) >= 1),
            f"--image_size={cfg.image_size} must be two positive sizes, e.g. 32,32",
        ),
        (
            cfg.crop is None or data_options.is_size(cfg.crop),
            f"--crop={cfg.crop} must be two positive sizes, e.g. 64,64",
        ),
        _in_data_range(cfg, "crops_per_image"),
        (
            cfg.channels in (0, *CHANNELS),
            f"--channels={cfg.channels} is not valid; choose 1 (gray), 3 (RGB) or 0 (the first "
            "file's)",
        ),
        (cfg.test_examples >= 0, f"--test_examples={cfg.test_examples} must be 0 or more"),
        (cfg.logical_cpus >= 0, f"--logical_cpus={cfg.logical_cpus} must be 0 or more"),
        _in_data_range(cfg, "shuffle_buffer"),
        _in_data_range(cfg, "cache_budget_mb"),
        (
            cfg.bad_files in BAD_FILES,
            f"--bad_files={cfg.bad_files!r} is not valid; choose one of {', '.join(BAD_FILES)}",
        ),
        (
            cfg.early_stopping_patience >= 0,
            f"--early_stopping_patience={cfg.early_stopping_patience} must be 0 or more",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return cfg


def _in_data_range(cfg, name: str) -> tuple[bool, str]:
    """(whether it holds, the error if not): the data stage's bound on option `name`."""
    bound = data_options.RANGES[name]
    return bound.holds(cfg[name]), f"--{name}={cfg[name]} must be {bound.in_words()}"


def check_model_kwargs(model_class, kwargs: dict[str, Any]) -> None:
    accepted = model_class.constructor_arguments()
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model {model_class.registered_name!r} has no argument {', '.join(unknown)}; "
            f"its arguments: {', '.join(accepted)}"
        )
