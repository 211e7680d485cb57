"""One config system: TrainConfig defaults ← experiment file ← command-line flags.

An experiment file (`experiments/*.py`) is a runnable record of a run: its docstring holds the
command, and `get_config()` returns a dict of TrainConfig fields to override. Flags given on
the command line override it in turn. The resolved config is saved as `config.json`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from convae_tf.errors import ConfigError
from convae_tf.training.precision import PRECISIONS


@dataclasses.dataclass
class TrainConfig:
    model: str = "vae"
    dataset: str = "sprites"
    data_dir: str | None = None
    image_size: tuple[int, int] | None = None
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    latent_dim: int | None = None  # None: the model's own default
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0
    validation_fraction: float = 0.1
    normal_classes: tuple[int, ...] | None = None
    strategy: str = "default"
    logical_cpus: int = 0
    tpu: str = ""  # TPU name or grpc:// address for --strategy=tpu ("" : the local TPU VM)
    early_stopping_patience: int = 0
    steps_per_epoch: int | None = None
    deterministic: bool = True
    workdir: str | None = None
    precision: str = "auto"  # see convae_tf.training.precision

    def model_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.model_args)
        if self.latent_dim is not None:
            kwargs["latent_dim"] = self.latent_dim
        return kwargs

    def resolved_workdir(self) -> Path:
        if self.workdir:
            return Path(self.workdir)
        kind, sep, path = self.dataset.partition(":")
        # npz:/some/dir/file.npz → npz-file.npz; tfds names like cifar10/v2 → cifar10-v2.
        name = f"{kind}-{Path(path).name}" if sep and kind in ("npz", "folder") else self.dataset
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "data"
        return Path("runs") / f"{self.model}-{name}"

    def validate(self) -> TrainConfig:
        checks = [
            (self.epochs >= 1, f"--epochs={self.epochs} must be at least 1"),
            (self.batch_size >= 1, f"--batch_size={self.batch_size} must be at least 1"),
            (self.learning_rate > 0, f"--learning_rate={self.learning_rate} must be positive"),
            (
                0 < self.validation_fraction < 1,
                f"--validation_fraction={self.validation_fraction} must be between 0 and 1",
            ),
            (
                self.latent_dim is None or self.latent_dim >= 1,
                f"--latent_dim={self.latent_dim} must be at least 1",
            ),
            (
                self.strategy in STRATEGIES,
                f"--strategy={self.strategy!r} is not valid; choose one of {', '.join(STRATEGIES)}",
            ),
            (
                self.precision in PRECISIONS,
                f"--precision={self.precision!r} is not valid; choose one of "
                f"{', '.join(PRECISIONS)}",
            ),
            (
                self.steps_per_epoch is None or self.steps_per_epoch >= 1,
                f"--steps_per_epoch={self.steps_per_epoch} must be at least 1",
            ),
            (
                self.image_size is None
                or (len(self.image_size) == 2 and min(self.image_size) >= 1),
                f"--image_size={self.image_size} must be two positive sizes, e.g. 32,32",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def load_experiment(path: str) -> dict[str, Any]:
    """The overrides that `get_config()` of an experiment file returns."""
    if not os.path.isfile(path):
        raise ConfigError(
            f"--config={path}: no such file; give the path of an experiments/*.py file"
        )
    spec = importlib.util.spec_from_file_location(f"_experiment_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # any error in user code becomes one clear line
        raise ConfigError(
            f"--config={path} could not be run: {type(error).__name__}: {error}"
        ) from None
    if not callable(getattr(module, "get_config", None)):
        raise ConfigError(f"--config={path} defines no get_config(); add one that returns a dict")
    overrides = dict(module.get_config())
    unknown = sorted(set(overrides) - FIELDS)
    if unknown:
        raise ConfigError(
            f"--config={path} sets unknown fields {unknown}; "
            f"valid fields: {', '.join(sorted(FIELDS))}"
        )
    return overrides


def resolve(experiment: dict[str, Any], flags: dict[str, Any]) -> TrainConfig:
    """Defaults, then the experiment's values, then the flags given on the command line."""
    values = {**experiment, **flags}
    for key in ("image_size", "normal_classes"):
        if values.get(key) is not None:
            try:
                values[key] = tuple(int(v) for v in values[key])
            except (TypeError, ValueError):
                raise ConfigError(
                    f"--{key}={values[key]!r} must be comma-separated integers, e.g. 1,7"
                ) from None
    return TrainConfig(**values).validate()


def parse_model_args(items: list[str]) -> dict[str, Any]:
    """`key=value` strings → dict; values are Python literals where they parse as one
    (`filters=32,64` → (32, 64), `latent_dim=8` → 8), strings otherwise (`pooling=avg`)."""
    import ast

    parsed = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--model_args={item!r} must be key=value, e.g. pooling=avg")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        parsed[key.strip()] = value
    return parsed


def check_model_kwargs(model_class, kwargs: dict[str, Any]) -> None:
    accepted = model_class.constructor_arguments()
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model {model_class.registered_name!r} has no argument {', '.join(unknown)}; "
            f"its arguments: {', '.join(accepted)}"
        )
