"""Train an autoencoder with `model.fit` on a tf.data pipeline.

    python -m convae_tf.train --model=ae --dataset=sprites --epochs=5
    python -m convae_tf.train --config=experiments/configs/ae_sprites.py --epochs=2  # flags win
    python -m convae_tf.train --config=experiments/configs/ae_sprites.py --config.epochs=2  # same

Rerunning the same command after an interruption resumes from the last finished epoch.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import keras
import ml_collections
import tensorflow as tf

from convae_tf import data, errors
from convae_tf import models as _models  # noqa: F401  (registers the variants)
from convae_tf.artifacts import run_folder
from convae_tf.models import anomaly, registry
from convae_tf.training import callbacks as ae_callbacks
from convae_tf.training import config, distributed, precision
from convae_tf.utils import files
from convae_tf.utils.progress import stage

# Validation images per batch when fitting the anomaly score after training.
ANOMALY_FIT_BATCH = 32


def learning_rate(cfg, total_steps: int):
    """Adam's learning rate: a number, or a schedule over the optimizer's step count (which
    BackupAndRestore restores, so a resumed run continues the same curve)."""
    if cfg.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(cfg.learning_rate, total_steps)
    return cfg.learning_rate


def new_model(cfg) -> keras.Model:
    """The model of `cfg`, not built yet; a bad model argument is a ConfigError."""
    model_class = registry.get(cfg.model)
    kwargs = config.model_kwargs(cfg)
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
    return model


def build_model(cfg, image_shape, total_steps: int) -> keras.Model:
    model = new_model(cfg)
    # The layers take the policy when they are created (in build); the loss stays float32.
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision.keras_policy(cfg.precision))
    try:
        model.build((None, *image_shape))
    except ValueError as error:  # an argument that does not fit the images (a code's grid)
        raise errors.ConfigError(f"model {cfg.model!r}: {error}") from None
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate(cfg, total_steps)))
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
        ae_callbacks.CollapseWarning(preview_images),
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


def train_and_evaluate(cfg: ml_collections.ConfigDict, overwrite: bool = False) -> dict:
    """Train `cfg.model` on `cfg.dataset` into the workdir; returns the test metrics.
    `cfg`: `config.get_config()`, with the changes of a run."""
    started = time.time()
    config.validate(cfg)
    registry.get(cfg.model)  # fail on an unknown name before any work
    distributed.split_cpu(cfg.logical_cpus)
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distributed.make_strategy(cfg.strategy, cfg.tpu)
    chief = distributed.is_chief(strategy)
    workdir = distributed.writable_workdir(config.resolved_workdir(cfg), chief)
    # A bad model argument fails before the data are read (preparing a dataset can take
    # minutes). Not earlier: the strategy must be made before TensorFlow runs anything.
    new_model(cfg)
    initial_weights = cfg.init_from and run_folder.initial_weights_file(cfg.init_from)
    source, pipes = load_data(cfg, strategy)

    # Seed again right before the weights are drawn: preparing a dataset on first use consumes
    # Python random numbers, and Keras initializers take their seeds from Python's generator.
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = build_model(cfg, pipes.image_shape, cfg.epochs * steps_per_epoch(cfg, pipes))
        if initial_weights:
            # A resumed run's backup then overwrites these with the run's own latest weights.
            kept = run_folder.load_initial_weights(model, initial_weights)
            stage(
                f"init: weights from {initial_weights}"
                + (f" ({kept} trainable variables not in it start afresh)" if kept else "")
            )
    resolved = {
        "train": cfg.to_dict() | {"workdir": str(config.resolved_workdir(cfg))},
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
        # Image files are decoded as they stream: a bad one met here stops the run with one
        # line naming it (the run folder stays resumable), or is skipped (--bad_files=skip).
        with data.named_file_errors():
            # From the uncached test split (a partial read of a cached dataset makes TF warn),
            # binarised when training is.
            preview = next(iter(pipes.test.unbatch().batch(8))).numpy()
            callbacks = make_callbacks(cfg, model, workdir, preview)
            epoch = run_folder.resume_epoch(workdir)
            history = fit(cfg, model, strategy, pipes, callbacks, epoch)
            check_finite(history, cfg, workdir)
            fit_anomaly_score(model, pipes)
            run_folder.save_model(model, workdir / "model.keras")
            test = closing_test_batches(cfg, pipes, source)
            stage(
                "test: evaluating on the test split"
                + (f" (its first {cfg.test_examples} images)" if cfg.test_examples else "")
            )
            test_metrics = evaluate(cfg, model, strategy, test)
        if source.skipped is not None and source.skipped.summary():
            stage(f"data: {source.skipped.summary()}")
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


def fit_anomaly_score(model, pipes) -> None:
    """Fits the model's anomaly score to held-out normal images: the fit part of the validation
    split (anomaly.HeldOutParts; the rest calibrates the threshold at export and evaluation).
    One-class runs validate on their normal classes only; a run on crops keeps the crops of
    one image in one part."""
    parts = anomaly.HeldOutParts(pipes.num_validation, pipes.crops_per_image)
    # Streamed in small batches: memory holds one batch, not the validation images, and a
    # small batch keeps the eager forward pass's working memory below training's.
    batches = parts.fit(pipes.validation.unbatch()).batch(ANOMALY_FIT_BATCH)
    model.fit_anomaly_score(batches.as_numpy_iterator())
    stage(f"anomaly score: {parts.describe()}")


RESULTS = """Results in {workdir}/:
  model.keras   the trained model (import convae_tf; keras.saving.load_model(...))
  config.json   the resolved configuration
  history.csv   per-epoch loss and val_loss
  figures/      reconstruction grids, one per epoch
  checkpoints/  best.keras (lowest val_loss)
  tensorboard/  tensorboard --logdir {workdir}/tensorboard"""


def load_data(cfg, strategy: tf.distribute.Strategy):
    stage(f"data: loading {cfg.dataset!r}")
    source = data.load_source(
        cfg.dataset,
        data_dir=cfg.data_dir,
        image_size=cfg.image_size,
        seed=cfg.seed,
        bad_files=cfg.bad_files,
        crop=cfg.crop,
        channels=cfg.channels,
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
        shuffle_buffer=cfg.shuffle_buffer,
        cache_budget_mb=cfg.cache_budget_mb,
        binarize=cfg.binarize,
        crop=cfg.crop,
        crops_per_image=cfg.crops_per_image,
    )
    if several and pipes.num_validation < cfg.batch_size:
        raise errors.ConfigError(
            f"--batch_size={cfg.batch_size} is larger than the {pipes.num_validation} validation "
            "images; with several replicas partial batches are dropped, so lower --batch_size"
        )
    what = f"crops ({pipes.crops_per_image} per image)" if cfg.crop else "images"
    stage(
        f"data: {pipes.num_train} train / {pipes.num_validation} validation {what} of shape "
        f"{pipes.image_shape}"
    )
    return source, pipes


def steps_per_epoch(cfg, pipes) -> int:
    return cfg.steps_per_epoch or pipes.steps_per_pass


def fit(cfg, model, strategy, pipes, callbacks, first_epoch: int) -> keras.callbacks.History:
    steps = steps_per_epoch(cfg, pipes)
    # Each epoch's batch order depends on the seed and the epoch alone, so a resumed run
    # (BackupAndRestore restarts at `first_epoch`) trains on the same batches as an
    # uninterrupted one.
    # onednn_bfloat16 is a graph rewrite of the float32 model, on for training only.
    with precision.graph_rewrite(cfg.precision):
        if cfg.strategy == "multi_worker":
            # Keras's fit fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).
            # Each worker builds its own input: its share of every pass (Pipelines.epochs).
            def worker_batches(context: tf.distribute.InputContext) -> tf.data.Dataset:
                workers = context.num_input_pipelines
                per_replica = context.get_per_replica_batch_size(cfg.batch_size)
                batches = pipes.epochs(
                    first_epoch,
                    cfg.epochs,
                    steps,
                    worker=(workers, context.input_pipeline_id),
                    batch_size=cfg.batch_size // workers,
                )
                # A worker with several replicas (GPUs) hands each a slice of its batch.
                return batches.rebatch(per_replica, drop_remainder=True)

            return distributed.fit(
                model,
                strategy,
                worker_batches,
                pipes.validation,
                epochs=cfg.epochs,
                steps_per_epoch=steps,
                validation_steps=pipes.num_validation // cfg.batch_size,
                callbacks=callbacks,
                verbose=True,
            )
        return model.fit(
            pipes.epochs(first_epoch, cfg.epochs, steps),
            validation_data=pipes.validation,
            epochs=cfg.epochs,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=1 if sys.stdout.isatty() else 2,
            shuffle=False,  # the pipeline shuffles, seeded per epoch (Keras would only warn)
        )


def closing_test_batches(cfg, pipes, source) -> tf.data.Dataset:
    """The test batches of the closing measure: the first `test_examples` images. Capped so that
    a run's last step does not grow with the dataset (a folder of 10^6 images has a test split
    of 2·10^5); `evaluate` is where the whole split is measured."""
    count = cfg.test_examples
    if not count or count >= source.num_test:
        return pipes.test
    test = pipes.test.unbatch().take(count)
    test = test.batch(cfg.batch_size, drop_remainder=pipes.drop_remainder)
    if source.skipped is None:  # no file can be skipped: the count is exact
        # Keras warns that a dataset of unknown length "ran out of data" when it ends.
        batches = count // cfg.batch_size if pipes.drop_remainder else -(-count // cfg.batch_size)
        test = test.apply(tf.data.experimental.assert_cardinality(batches))
    return test.prefetch(tf.data.AUTOTUNE)


def evaluate(cfg, model, strategy, test: tf.data.Dataset) -> dict[str, float]:
    if cfg.strategy == "multi_worker":
        steps = sum(1 for _ in test)  # full batches only (drop_remainder)
        return distributed.evaluate(model, strategy, test, steps)
    return {k: float(v) for k, v in model.evaluate(test, return_dict=True, verbose=0).items()}


def check_finite(history, cfg, workdir: Path) -> None:
    losses = history.history.get("loss", [])
    if any(not math.isfinite(v) for v in losses):
        raise errors.ConfigError(
            f"training diverged (loss became NaN/inf after {len(losses)} epochs); lower "
            f"--learning_rate (now {cfg.learning_rate}). The best checkpoint so far is in "
            f"{workdir / 'checkpoints'}"
        )
