"""Train an autoencoder with `model.fit` on a tf.data pipeline.

    python -m convae_tf.train --model=ae --dataset=sprites --epochs=5
    python -m convae_tf.train --config=experiments/ae_sprites.py --epochs=2   # flags override

Rerunning the same command after an interruption resumes from the last finished epoch.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf
from absl import flags

from convae_tf import cli, data, errors
from convae_tf import models as _models  # noqa: F401  (registers the variants)
from convae_tf.models import registry
from convae_tf.training import callbacks as ae_callbacks
from convae_tf.training import config, distributed, precision, run_folder
from convae_tf.utils import files

D = config.TrainConfig()
flags.DEFINE_string(
    "config", None, "Experiment file (experiments/*.py); flags given here override it."
)
flags.DEFINE_string(
    "model",
    D.model,
    "Model name; `python -c 'import convae_tf; print(convae_tf.list_models())'` lists them.",
)
flags.DEFINE_string(
    "dataset", D.dataset, "sprites, a TFDS name (mnist, cifar10, ...), npz:PATH or folder:PATH."
)
flags.DEFINE_string("data_dir", D.data_dir, "TFDS data directory (default: TFDS's own).")
flags.DEFINE_list(
    "image_size", None, "Resize every image to H,W (default: keep the dataset's size)."
)
flags.DEFINE_integer("epochs", D.epochs, "Training epochs.", lower_bound=1)
flags.DEFINE_integer(
    "batch_size", D.batch_size, "Global batch size (split across replicas).", lower_bound=1
)
flags.DEFINE_float("learning_rate", D.learning_rate, "Adam learning rate.", lower_bound=0.0)
flags.DEFINE_integer(
    "latent_dim", D.latent_dim, "Code size (default: the model's own).", lower_bound=1
)
flags.DEFINE_multi_string(
    "model_args",
    [],
    "Model constructor argument as key=value, repeatable: "
    "--model_args=pooling=avg --model_args=filters=32,64.",
)
flags.DEFINE_integer("seed", D.seed, "Seed of weights, shuffling and noise.")
flags.DEFINE_float(
    "validation_fraction",
    D.validation_fraction,
    "Share of the train split held out for validation.",
)
flags.DEFINE_list(
    "normal_classes",
    None,
    "Train on these labels only (one-class anomaly detection), e.g. 0 or 1,7.",
)
flags.DEFINE_enum(
    "strategy",
    D.strategy,
    config.STRATEGIES,
    "default: one device; mirrored: MirroredStrategy over the visible GPUs (or logical CPUs); "
    "multi_worker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG; tpu: TPUStrategy.",
)
flags.DEFINE_string("tpu", D.tpu, "TPU name or grpc:// address for --strategy=tpu.")
flags.DEFINE_integer(
    "logical_cpus",
    D.logical_cpus,
    "Split the CPU into N logical devices (to try --strategy=mirrored without GPUs).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "early_stopping_patience",
    D.early_stopping_patience,
    "Stop after N epochs without a better val_loss (0: never).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "steps_per_epoch",
    D.steps_per_epoch,
    "Train steps per epoch (default: one pass over the data).",
    lower_bound=1,
)
flags.DEFINE_bool(
    "deterministic", D.deterministic, "Enable TensorFlow op determinism (same seed, same weights)."
)
flags.DEFINE_enum(
    "precision",
    D.precision,
    precision.PRECISIONS,
    "auto: onednn_bfloat16 (TF rewrites the float32 training graph to bfloat16) on CPUs with "
    "native bfloat16, else float32; mixed_*: a Keras dtype policy.",
)
flags.DEFINE_string("workdir", None, "Output folder (default: runs/<model>-<dataset>).")
flags.DEFINE_bool("overwrite", False, "Replace a finished run in --workdir instead of refusing.")
FLAGS = flags.FLAGS

CONFIG_FLAGS = sorted(config.FIELDS - {"model_args"})


def stage(message: str) -> None:
    print(f"[convae_tf] {message}", flush=True)


def build_model(cfg: config.TrainConfig, image_shape) -> keras.Model:
    model_class = registry.get(cfg.model)
    kwargs = cfg.model_kwargs()
    config.check_model_kwargs(model_class, kwargs)
    try:
        model = model_class(**kwargs)
    except (TypeError, ValueError) as error:
        raise errors.ConfigError(f"model {cfg.model!r}: {error}") from None
    if cfg.epochs <= model.pretraining_epochs:
        raise errors.ConfigError(
            f"--epochs={cfg.epochs} leaves no epoch for end-to-end training after "
            f"{model.pretraining_epochs} pretraining epochs; pass --epochs="
            f"{model.pretraining_epochs + 1} or more, or lower --model_args=pretrain_epochs=..."
        )
    # The layers take the policy when they are created (in build); the loss stays float32.
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision.keras_policy(cfg.precision))
    try:
        model.build((None, *image_shape))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate))
    return model


def make_callbacks(cfg, model, workdir: Path, preview_images) -> list[keras.callbacks.Callback]:
    callbacks = [
        *model.training_callbacks(),
        keras.callbacks.TerminateOnNaN(),
        ae_callbacks.ResumableCSVLogger(workdir / "history.csv", workdir / "backup"),
        # double_checkpoint: a kill during a backup write falls back to the previous backup.
        keras.callbacks.BackupAndRestore(str(workdir / "backup"), double_checkpoint=True),
        ae_callbacks.BestCheckpoint(workdir / "checkpoints", monitor="val_loss"),
        keras.callbacks.TensorBoard(str(workdir / "tensorboard")),
        ae_callbacks.ReconstructionGrid(preview_images, workdir / "figures"),
    ]
    if cfg.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=cfg.early_stopping_patience,
                restore_best_weights=True,
                # A pretraining schedule does not optimise val_loss yet: don't judge it.
                start_from_epoch=model.pretraining_epochs,
            )
        )
    return callbacks


def train_and_evaluate(cfg: config.TrainConfig, overwrite: bool = False) -> dict:
    """Train `cfg.model` on `cfg.dataset` into the workdir; returns the test metrics."""
    started = time.time()
    registry.get(cfg.model)  # fail on an unknown name before any work
    distributed.split_cpu(cfg.logical_cpus)
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distributed.make_strategy(cfg.strategy, cfg.tpu)
    chief = distributed.is_chief(strategy)
    workdir = distributed.writable_workdir(cfg.resolved_workdir(), chief)
    source, pipes = load_data(cfg, strategy)

    # Seed again right before the weights are drawn: preparing a dataset on first use consumes
    # Python random numbers, and Keras initializers take their seeds from Python's generator.
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = build_model(cfg, pipes.image_shape)
    resolved = {
        "train": cfg.to_dict() | {"workdir": str(cfg.resolved_workdir())},
        "model_config": {
            k: v for k, v in model.get_config().items() if k not in ("name", "dtype", "trainable")
        },
        "image_shape": list(pipes.image_shape),
        "num_classes": source.num_classes,
        # What --precision resolved to on this machine ("auto" alone does not say).
        "resolved_precision": precision.resolve(cfg.precision),
    }
    with run_folder.exclusive(workdir):
        resuming = run_folder.prepare(workdir, resolved, overwrite)
        files.save_json(resolved, workdir / "config.json")
        stage(
            f"model: {cfg.model} ({type(model).__name__}), {model.count_params():,} parameters, "
            f"{strategy.num_replicas_in_sync} replica(s); workdir {workdir}"
            + (" (resuming)" if resuming else "")
        )
        # From the uncached test split: a partial read of a cached dataset makes TF warn.
        preview = next(iter(source.test.batch(8)))["image"].numpy()
        callbacks = make_callbacks(cfg, model, workdir, preview)
        history = fit(cfg, model, strategy, pipes, callbacks, run_folder.resume_epoch(workdir))
        check_finite(history, cfg, workdir)
        run_folder.save_model(model, workdir / "model.keras")
        stage("test: evaluating on the test split")
        test_metrics = evaluate(cfg, model, strategy, pipes)
    if cfg.strategy == "multi_worker":
        # Identical on every worker when their replicas stayed in sync.
        stage(f"weights fingerprint: {distributed.fingerprint(model)}")
    distributed.remove_scratch(workdir, chief)
    stage(
        f"done in {time.time() - started:.0f} s; test "
        + " ".join(f"{k}={v:.4f}" for k, v in test_metrics.items())
    )
    if chief:
        print(RESULTS.format(workdir=workdir), flush=True)
    return test_metrics


RESULTS = """Results in {workdir}/:
  model.keras   the trained model (import convae_tf; keras.saving.load_model(...))
  config.json   the resolved configuration
  history.csv   per-epoch loss and val_loss
  figures/      reconstruction grids, one per epoch
  checkpoints/  best.keras (lowest val_loss)
  tensorboard/  tensorboard --logdir {workdir}/tensorboard"""


def load_data(cfg: config.TrainConfig, strategy: tf.distribute.Strategy):
    stage(f"data: loading {cfg.dataset!r}")
    source = data.load_source(
        cfg.dataset, data_dir=cfg.data_dir, image_size=cfg.image_size, seed=cfg.seed
    )
    several = strategy.num_replicas_in_sync > 1 or cfg.strategy == "multi_worker"
    pipes = data.make_pipelines(
        source,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        validation_fraction=cfg.validation_fraction,
        normal_classes=cfg.normal_classes,
        # Partial batches would hand some replica an empty slice (which TF's oneDNN
        # convolutions reject) or, across workers, unequal step counts.
        drop_remainder=several,
    )
    if several and pipes.num_validation < cfg.batch_size:
        raise errors.ConfigError(
            f"--batch_size={cfg.batch_size} is larger than the {pipes.num_validation} validation "
            "images; with several replicas partial batches are dropped, so lower --batch_size"
        )
    stage(
        f"data: {pipes.num_train} train / {pipes.num_validation} validation images of shape "
        f"{pipes.image_shape}"
    )
    return source, pipes


def fit(cfg, model, strategy, pipes, callbacks, first_epoch: int) -> keras.callbacks.History:
    steps = cfg.steps_per_epoch or pipes.steps_per_pass
    # Each epoch's batch order depends on the seed and the epoch alone, so a resumed run
    # (BackupAndRestore restarts at `first_epoch`) trains on the same batches as an
    # uninterrupted one.
    train = pipes.epochs(first_epoch, cfg.epochs, steps)
    # onednn_bfloat16 is a graph rewrite of the float32 model, on for training only.
    with precision.graph_rewrite(cfg.precision):
        return _fit(cfg, model, strategy, pipes, callbacks, train, steps)


def _fit(cfg, model, strategy, pipes, callbacks, train, steps) -> keras.callbacks.History:
    if cfg.strategy == "multi_worker":
        # Keras's fit fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).
        return distributed.fit(
            model,
            strategy,
            train,
            pipes.validation,
            epochs=cfg.epochs,
            steps_per_epoch=steps,
            validation_steps=pipes.num_validation // cfg.batch_size,
            callbacks=callbacks,
            verbose=True,
        )
    return model.fit(
        train,
        validation_data=pipes.validation,
        epochs=cfg.epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )


def evaluate(cfg, model, strategy, pipes) -> dict[str, float]:
    if cfg.strategy == "multi_worker":
        steps = sum(1 for _ in pipes.test)  # full batches only (drop_remainder)
        return distributed.evaluate(model, strategy, pipes.test, steps)
    return {k: float(v) for k, v in model.evaluate(pipes.test, return_dict=True, verbose=0).items()}


def check_finite(history, cfg, workdir: Path) -> None:
    losses = history.history.get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        raise errors.ConfigError(
            f"training diverged (loss became NaN/inf after {len(losses)} epochs); lower "
            f"--learning_rate (now {cfg.learning_rate}). The best checkpoint so far is in "
            f"{workdir / 'checkpoints'}"
        )


def config_from_flags() -> config.TrainConfig:
    experiment = config.load_experiment(FLAGS.config) if FLAGS.config else {}
    given = {name: FLAGS[name].value for name in CONFIG_FLAGS if FLAGS[name].present}
    if FLAGS["model_args"].present:
        given["model_args"] = {
            **experiment.get("model_args", {}),
            **config.parse_model_args(FLAGS.model_args),
        }
    try:
        return config.resolve(experiment, given)
    except (TypeError, ValueError) as error:
        if isinstance(error, errors.ConfigError):
            raise
        raise errors.ConfigError(f"bad configuration value: {error}") from None


def main(argv) -> None:
    del argv
    train_and_evaluate(config_from_flags(), overwrite=FLAGS.overwrite)


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
