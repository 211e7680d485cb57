"""Multi-worker training: a custom loop on `tf.distribute.MultiWorkerMirroredStrategy`.

Keras 3.15's `model.fit` fails under this strategy (keras-team/keras#20585), so this loop
runs the model's own `train_step` / `test_step` (its loss, its metrics, its per-replica loss
scaling) inside `strategy.run`, and drives the same Keras callbacks that `fit` would.

The cluster comes from the standard `TF_CONFIG` environment variable, so the same command
runs on one machine (no TF_CONFIG: one worker) or on a cluster. Every worker runs this code;
only the chief writes to the real workdir, the others write to temporary folders that are
removed at the end (saving must still run on every worker: it reads distributed variables).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from convae_tf.errors import ConfigError


def split_cpu(logical_cpus: int) -> None:
    """Split the CPU into logical devices, to try MirroredStrategy on a machine without GPUs."""
    if logical_cpus < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    # Raises RuntimeError once the runtime is initialised (a second run in one process): the
    # split made by the first run stays in force then.
    with contextlib.suppress(RuntimeError):
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus
        )


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    """default: one device; mirrored: the local GPUs (else the logical CPUs); multi_worker:
    the cluster that TF_CONFIG describes; tpu: TPUStrategy on `tpu` (a name or grpc address)."""
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == "multi_worker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (ValueError, KeyError) as error:  # a malformed TF_CONFIG
            raise ConfigError(f"--strategy=multi_worker: bad TF_CONFIG ({error})") from None
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, RuntimeError, tf.errors.OpError) as error:
            raise ConfigError(
                f"--strategy=tpu: no TPU found ({str(error).splitlines()[0]}); run on a TPU VM "
                "or pass --tpu=NAME"
            ) from None
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def worker_count() -> int:
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def writable_workdir(workdir: Path, chief: bool) -> Path:
    """The chief's real workdir; a throwaway folder for the other workers."""
    if chief:
        return workdir
    return Path(tempfile.mkdtemp(prefix="convae_tf_worker_"))


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    # Validation and test: shard elements, not files: most sources live in one file or in
    # memory, where file sharding would leave workers without data. (The train input is
    # sharded by the pipeline itself, per worker: see `fit`.)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def fit(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    worker_train: Callable[[tf.distribute.InputContext], tf.data.Dataset],
    validation: tf.data.Dataset,
    *,
    epochs: int,
    steps_per_epoch: int,
    validation_steps: int,
    callbacks: list[keras.callbacks.Callback],
    verbose: bool,
) -> keras.callbacks.History:
    """`model.fit` for MultiWorkerMirroredStrategy: the same steps, metrics and callbacks.

    `worker_train(context)` gives one worker's train input (its own share of the data, in
    per-replica batches: `tf.distribute.Strategy.distribute_datasets_from_function`), so no
    worker reads the whole set. It must hold at least epochs × steps_per_epoch batches and,
    like `validation`, drop partial batches, so that every worker runs the same number of
    collective steps.
    """
    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callbacks, history],
        model=model,
        epochs=epochs,
        steps=steps_per_epoch,
        verbose=0,
    )
    train_iterator = iter(strategy.distribute_datasets_from_function(worker_train))
    dist_validation = distribute(strategy, validation)

    @tf.function
    def train_step(iterator):
        strategy.run(model.train_step, args=(next(iterator),))

    test_step = _test_function(model, strategy)
    model.stop_training = False
    callback_list.on_train_begin()
    initial_epoch = getattr(model, "_initial_epoch", None) or 0  # set by BackupAndRestore
    logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            train_step(train_iterator)
            callback_list.on_train_batch_end(step)
        logs = _results(model)
        logs |= _run_tests(model, test_step, dist_validation, validation_steps, prefix="val_")
        callback_list.on_epoch_end(epoch, logs)
        if verbose:
            shown = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {shown}", flush=True)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return history


def distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    return strategy.experimental_distribute_dataset(shard_by_data(dataset))


def evaluate(model, strategy, dataset: tf.data.Dataset, steps: int) -> dict[str, float]:
    """`model.evaluate(..., return_dict=True)` for MultiWorkerMirroredStrategy."""
    test_step = _test_function(model, strategy)
    return _run_tests(model, test_step, distribute(strategy, dataset), steps)


def _test_function(model, strategy):
    @tf.function
    def test_step(iterator):
        strategy.run(model.test_step, args=(next(iterator),))

    return test_step


def _run_tests(model, test_step, dist_dataset, steps: int, prefix: str = "") -> dict[str, float]:
    model.reset_metrics()
    iterator = iter(dist_dataset)
    for _ in range(steps):
        test_step(iterator)
    return _results(model, prefix)


def _results(model, prefix: str = "") -> dict[str, float]:
    # Read in the cross-replica context: the trackers' sums and counts are all-reduced.
    return {f"{prefix}{m.name}": float(m.result()) for m in model.metrics}


def fingerprint(model: keras.Model) -> str:
    """A short hash of every weight's bytes: equal on workers that hold the same model."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(weight.tobytes())
    return digest.hexdigest()[:16]


def remove_scratch(folder: Path, chief: bool) -> None:
    if not chief:
        shutil.rmtree(folder, ignore_errors=True)
