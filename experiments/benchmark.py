"""Side-by-side benchmark of convae_tf against the keras.io reference autoencoders (issue 6).

    make bench                                                    # the full run (see below)
    .venv/bin/python experiments/benchmark.py --npz=~/.keras/datasets/mnist.npz
    .venv/bin/python experiments/benchmark.py --quick             # a smoke test, ~1 minute

Measures in one process, on this machine, and writes `experiments/results/benchmark.json` and
`benchmark.md`:

- peak: the float32 arithmetic rate of a large matmul (the machine's practical peak);
- training throughput (images/s in steady state) of every registered model and of the two
  reference implementations, on `sprites` and on the npz data; FLOPs per image and the
  GFLOP/s achieved, as a share of that peak;
- inference latency and throughput at batch 1 and 64 through Keras (`predict_on_batch`), the
  SavedModel `serving_default` signature, and the TFLite float32 and int8 files (LiteRT);
- time to quality: the reference VAE trains `--ttq_epochs` epochs; our default `vae` trains
  until its test negative ELBO reaches the reference's final one; our `vae` at the
  reference's architecture trains the same number of epochs as the reference.

The references are the keras.io examples as published (Keras 3 versions): "Variational
AutoEncoder" (fchollet) and "Convolutional autoencoder for image denoising" (Santiago L.
Valdarrama), with their own `train_step`/loss, `compile` defaults, Adam at its default
learning rate, and `fit` on numpy arrays with batch 128. Both were written for 28×28 MNIST;
for other sizes that are multiples of 4 (sprites is 32×32) the same layers are used.

Every timing alternates ours and the reference's in one loop (`--repeats` rounds); a ratio
is ours/reference measured in the same round, and the tables quote medians.

Steady-state throughput: a warm-up `fit` of a few steps (tracing, caches), then a `fit` of
`--steps` steps whose per-step completion times a callback records; images/s is counted
between the first and the last step of that fit (set-up and the first step excluded, for
ours and the references alike). FLOPs: forward FLOPs of one image (tf.compat.v1.profiler on
the frozen batch-1 graph, 2 per multiply-add) × 3 for a training step (forward + backward ≈
2 × forward), the usual convention.

Without `--npz` the script uses `~/.keras/datasets/mnist.npz` if it exists, else it writes a
synthetic MNIST-like npz (60000 + 10000 28×28×1 rendered, rotated digits; `runs/benchmark/`)
and says so in its output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import readme_block  # noqa: E402  (beside this script)
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

import convae_tf  # noqa: E402
from convae_tf import data  # noqa: E402
from convae_tf.deploy import signatures, tflite  # noqa: E402
from convae_tf.training import config as train_config  # noqa: E402
from convae_tf.training import precision  # noqa: E402

RESULTS = REPO / "experiments" / "results"
MNIST = Path("~/.keras/datasets/mnist.npz").expanduser()
SYNTHETIC = REPO / "runs" / "benchmark" / "synthetic_digits.npz"
REFERENCE_BATCH = 128
# Our `vae` with the keras.io VAE's layers: stride-2 convolutions 32, 64 (kernel 3, relu),
# Dense 16 relu, latent 2; Dense 7·7·64 relu, Conv2DTranspose 64, 32 stride 2, then a stride-1
# Conv2DTranspose to the logits (the reference has a sigmoid there; ours applies it outside).
REFERENCE_ARCHITECTURE = dict(
    latent_dim=2,
    filters=(32, 64),
    kernel_size=3,
    pooling="stride",
    hidden_units=16,
    decoder_block="transpose",
    output_layer="transpose",
)
# Which reference each of our models is compared with: the VAE with the VAE, every
# deterministic autoencoder with the convolutional (denoising) autoencoder.
REFERENCE_OF = {"vae": "keras_io_vae", "vae@reference": "keras_io_vae"}


def say(message: str) -> None:
    print(f"[benchmark] {message}", flush=True)


# ------------------------------------------------------------------------------ references
class Sampling(layers.Layer):
    """keras.io VAE: z = z_mean + exp(0.5 · z_log_var) · ε."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class KerasIoVAE(keras.Model):
    """The keras.io "Variational AutoEncoder" example (Keras 3 version), as published; `call`
    (added for inference benchmarks) reconstructs from z_mean."""

    def __init__(self, image_shape=(28, 28, 1), latent_dim=2, **kwargs):
        super().__init__(**kwargs)
        height, width, channels = image_shape
        encoder_inputs = keras.Input(shape=image_shape)
        x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
        x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Flatten()(x)
        x = layers.Dense(16, activation="relu")(x)
        z_mean = layers.Dense(latent_dim, name="z_mean")(x)
        z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
        z = Sampling()([z_mean, z_log_var])
        self.encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
        # The same layers without the sampling (whose seed update would be a stateful op in
        # every exported graph, which TFLite cannot convert): for inference only.
        self.mean_encoder = keras.Model(encoder_inputs, z_mean, name="mean_encoder")
        latent_inputs = keras.Input(shape=(latent_dim,))
        x = layers.Dense((height // 4) * (width // 4) * 64, activation="relu")(latent_inputs)
        x = layers.Reshape((height // 4, width // 4, 64))(x)
        x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
        decoder_outputs = layers.Conv2DTranspose(channels, 3, activation="sigmoid", padding="same")(
            x
        )
        self.decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))  # noqa: B905
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}

    def call(self, images, training=False):
        return self.decoder(self.mean_encoder(images, training=training), training=training)

    def negative_elbo(self, images):
        """Per-image −ELBO in nats at the posterior mean, the reference's own loss terms (the
        same quantity as our VAE's `score`)."""
        z_mean, z_log_var, _ = self.encoder(images)
        reconstruction = self.decoder(z_mean)
        bce = ops.sum(keras.losses.binary_crossentropy(images, reconstruction), axis=(1, 2))
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
        return bce + kl


def keras_io_denoiser(image_shape=(28, 28, 1)) -> keras.Model:
    """The keras.io "Convolutional autoencoder for image denoising" model, as published."""
    inputs = layers.Input(shape=image_shape)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(image_shape[-1], (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = keras.Model(inputs, x, name="keras_io_denoiser")
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def keras_io_vae(image_shape) -> keras.Model:
    model = KerasIoVAE(image_shape)
    model.compile(optimizer=keras.optimizers.Adam())
    return model


REFERENCES = {"keras_io_vae": keras_io_vae, "keras_io_denoiser": keras_io_denoiser}


# ----------------------------------------------------------------------------- our recipe
def recipe() -> dict:
    """Our training recipe: train.py's defaults (what `python -m convae_tf.train` does)."""
    defaults = train_config.TrainConfig()
    return {
        "batch_size": defaults.batch_size,
        "learning_rate": defaults.learning_rate,
        "precision": precision.resolve(defaults.precision),
    }


def training_precision(name: str) -> contextlib.AbstractContextManager:
    """What compiled training functions of `name` run under: our recipe's precision for ours
    (onednn_bfloat16 is a rewrite of the running graph, see convae_tf.training.precision),
    float32 as published for the references."""
    return precision.graph_rewrite("float32" if name in REFERENCES else recipe()["precision"])


@contextlib.contextmanager
def dtype_policy(name: str):
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def ours(name: str, image_shape, rec: dict) -> keras.Model:
    kwargs = dict(REFERENCE_ARCHITECTURE) if name == "vae@reference" else {}
    with dtype_policy(precision.keras_policy(rec["precision"])):
        model = convae_tf.get_model(name.split("@")[0], **kwargs)
        model.build((None, *image_shape))
    model.compile(optimizer=keras.optimizers.Adam(rec["learning_rate"]))
    return model


# ------------------------------------------------------------------------------------ data
def synthetic_digits(n: int, seed: int, size: int = 28) -> np.ndarray:
    """MNIST-like uint8 images: a digit in PIL's scalable font, random size, stroke, rotation
    and shift, drawn at 2× and downsampled (grey anti-aliased edges, like MNIST's)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    fonts = {s: ImageFont.load_default(size=s) for s in range(36, 47)}
    out = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        image = Image.new("L", (2 * size, 2 * size), 0)
        ImageDraw.Draw(image).text(
            (size, size),
            str(int(rng.integers(10))),
            fill=255,
            font=fonts[int(rng.integers(36, 47))],
            anchor="mm",
            stroke_width=int(rng.integers(1, 4)),
            stroke_fill=255,
        )
        image = image.rotate(
            float(rng.uniform(-20, 20)),
            resample=Image.BILINEAR,
            translate=(float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))),
        )
        out[i] = np.asarray(image.resize((size, size), Image.BILINEAR))
    return out


def npz_path(arg: str | None, quick: bool) -> tuple[Path, str]:
    if arg:
        return Path(arg).expanduser(), "given on the command line"
    if MNIST.is_file() and not quick:
        return MNIST, "keras.datasets MNIST"
    path = SYNTHETIC.with_name("synthetic_digits_quick.npz") if quick else SYNTHETIC
    n_train, n_test = (512, 256) if quick else (60000, 10000)
    if not path.is_file():
        say(f"MNIST is absent: writing a synthetic MNIST-like npz ({n_train} + {n_test}) to {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, x_train=synthetic_digits(n_train, 1), x_test=synthetic_digits(n_test, 2)
        )
    return path, f"synthetic MNIST-like digits ({n_train} + {n_test}, MNIST absent)"


class Dataset:
    """One dataset in both forms: numpy arrays for the references' `fit`, and our pipeline."""

    def __init__(self, spec: str, data_dir: str | None, batch_size: int, max_train: int | None):
        self.source = source = data.load_source(spec, data_dir=data_dir)
        self.spec, self.image_shape = spec, tuple(source.image_shape)
        self.pipes = data.make_pipelines(source, batch_size=batch_size, seed=0)
        train = source.train.map(lambda ex: ex["image"])
        test = source.test.map(lambda ex: ex["image"])
        if max_train:
            train, test = train.take(max_train), test.take(max(max_train // 4, 64))
        self.x_train = np.concatenate(list(train.batch(4096).as_numpy_iterator()))
        self.x_test = np.concatenate(list(test.batch(4096).as_numpy_iterator()))


# --------------------------------------------------------------------------------- timing
class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def fit_args(model, name: str, ds: Dataset, steps: int) -> dict:
    if name == "keras_io_denoiser":
        return dict(x=ds.x_train, y=ds.x_train, batch_size=REFERENCE_BATCH, shuffle=True)
    if name in REFERENCES:
        return dict(x=ds.x_train, batch_size=REFERENCE_BATCH, shuffle=True)
    return dict(x=ds.pipes.train.repeat())


def fit_rate(model, fit_args: dict, batch: int, steps: int, warmup: int) -> float:
    """Images/s between the first and the last of `steps` steps, after a warm-up fit."""
    model.fit(**fit_args, epochs=1, steps_per_epoch=warmup, verbose=0)
    timer = StepTimes()
    model.fit(**fit_args, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    return (len(timer.times) - 1) * batch / (timer.times[-1] - timer.times[0])


def train_throughput(model, name: str, ds: Dataset, steps: int, warmup: int) -> float:
    """`fit_rate` of `name` on `ds`, in the precision it trains in (`training_precision`)."""
    batch = REFERENCE_BATCH if name in REFERENCES else ds.pipes.train.element_spec.shape[0]
    batch = batch or recipe()["batch_size"]
    with training_precision(name):
        return fit_rate(model, fit_args(model, name, ds, steps), batch, steps, warmup)


def forward_flops(fn, spec) -> int:
    """FLOPs of `fn` on one input of `spec` (frozen graph, tf.compat.v1.profiler)."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(tf.function(fn).get_concrete_function(spec))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(
        graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    return int(profile.total_float_ops)


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


def median_ratio(ours_values, reference_values):
    pairs = [a / b for a, b in zip(ours_values, reference_values, strict=True) if a and b]
    return round(statistics.median(pairs), 3) if pairs else None


# ------------------------------------------------------------------------------- inference
def reconstruct_fn(model, name):
    if name in REFERENCES:
        return lambda images: {"reconstruction": model(images, training=False)}
    return signatures.endpoints(model)[signatures.RECONSTRUCT]


def write_saved_model(model, name, path: Path, batch_size, image_shape):
    """The `serving_default` signature only (images → reconstruction), like our exports."""
    if name not in REFERENCES:
        signatures.write_saved_model(
            model, path, batch_size=batch_size, names=(signatures.RECONSTRUCT,)
        )
        return
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec((batch_size, *image_shape), tf.float32, name="images")
    archive.add_endpoint(
        signatures.RECONSTRUCT, reconstruct_fn(model, name), input_signature=[spec]
    )
    archive.write_out(str(path), verbose=False)


def time_calls(call, repeats: int) -> float:
    """Median seconds per call, after two warm-up calls."""
    call()
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def float32_copy(model, name):
    """Our model as `model.keras` reloads it (float32 layers, the trained weights): what the
    export and every inference path see, whatever the training precision."""
    if name in REFERENCES:
        return model
    with dtype_policy("float32"):
        copy = type(model).from_config(model.get_config())
        copy.build((None, *model.image_shape))
    copy.set_weights(model.get_weights())
    return copy


def inference_runners(model, name, images: np.ndarray, scratch: Path) -> dict:
    """{engine: fn(batch) → output}, for Keras, the SavedModel and TFLite float32 / int8."""
    from ai_edge_litert.interpreter import Interpreter

    model = float32_copy(model, name)

    runners = {"keras": lambda x: np.asarray(model.predict_on_batch(x))}
    saved = scratch / f"{name}_saved_model"
    write_saved_model(model, name, saved, None, images.shape[1:])
    signature = tf.saved_model.load(str(saved)).signatures[signatures.RECONSTRUCT]
    runners["saved_model"] = lambda x: signature(images=tf.constant(x))["reconstruction"].numpy()
    batch1 = scratch / f"{name}_batch1"
    write_saved_model(model, name, batch1, 1, images.shape[1:])

    def calibration():
        for image in images[:100]:
            yield signatures.RECONSTRUCT, {"images": image[None]}

    for quantization in ("float32", "int8"):
        flatbuffer = tflite.convert(
            batch1,
            [signatures.RECONSTRUCT],
            quantization,
            calibration if quantization == "int8" else None,
        )
        path = scratch / f"{name}_{quantization}.tflite"
        path.write_bytes(flatbuffer)
        runner = Interpreter(model_path=str(path)).get_signature_runner(signatures.RECONSTRUCT)

        def run(x, runner=runner):
            return np.concatenate(
                [runner(images=x[i : i + 1])["reconstruction"] for i in range(len(x))]
            )

        runners[f"tflite_{quantization}"] = run
    return runners


# ------------------------------------------------------------------------------ quality
def test_negative_elbo(model, images: np.ndarray) -> float:
    fn = model.negative_elbo if isinstance(model, KerasIoVAE) else model.score
    scores = [np.asarray(fn(images[i : i + 1000])) for i in range(0, len(images), 1000)]
    return float(np.mean(np.concatenate(scores)))


class QualityClock(keras.callbacks.Callback):
    """Training wall time (evaluation excluded) and the test −ELBO at each epoch's end; stops
    when `target` is reached."""

    def __init__(self, images, target=None):
        super().__init__()
        self.images, self.target = images, target
        self.curve, self.train_seconds = [], 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds += time.perf_counter() - self.started
        with precision.graph_rewrite("float32"):  # measured in float32, ours and the reference
            elbo = test_negative_elbo(self.model, self.images)
        self.curve.append((round(self.train_seconds, 2), round(elbo, 3)))
        if self.target is not None and elbo <= self.target:
            self.model.stop_training = True


def time_to_quality(ds: Dataset, epochs: int, checks_per_epoch: int, rec: dict) -> dict:
    say(f"time to quality: keras.io VAE, {epochs} epochs on {ds.spec}")
    keras.utils.set_random_seed(0)
    reference = keras_io_vae(ds.image_shape)
    ref_clock = QualityClock(ds.x_test)
    with training_precision("keras_io_vae"):
        reference.fit(
            ds.x_train, epochs=epochs, batch_size=REFERENCE_BATCH, verbose=0, callbacks=[ref_clock]
        )
    target = ref_clock.curve[-1][1]
    say(f"  reference: −ELBO {target:.2f} nats after {ref_clock.train_seconds:.1f} s")

    results = {
        "reference": {
            "epochs": epochs,
            "seconds": ref_clock.train_seconds,
            "test_negative_elbo": target,
            "curve": ref_clock.curve,
        }
    }
    steps = -(-ds.pipes.num_train // rec["batch_size"])
    for name, budget in (("vae", epochs), ("vae@reference", epochs)):
        keras.utils.set_random_seed(0)
        model = ours(name, ds.image_shape, rec)
        per_check = max(1, steps // checks_per_epoch) if name == "vae" else steps
        clock = QualityClock(ds.x_test, target if name == "vae" else None)
        with training_precision(name):
            model.fit(
                ds.pipes.train.repeat(),
                epochs=budget * steps // per_check,
                steps_per_epoch=per_check,
                verbose=0,
                callbacks=[clock],
            )
        reached = next((s for s, e in clock.curve if e <= target), None)
        results[name] = {
            "epochs_run": round(len(clock.curve) * per_check / steps, 3),
            "seconds": clock.train_seconds,
            "seconds_to_reference_elbo": reached,
            "time_ratio_to_reference": round(reached / ref_clock.train_seconds, 3)
            if reached
            else None,
            "test_negative_elbo": clock.curve[-1][1],
            "curve": clock.curve,
        }
        say(
            f"  {name}: final −ELBO {clock.curve[-1][1]:.2f} after {clock.train_seconds:.1f} s; "
            f"reached the reference's at {reached} s"
        )
    # The reference trains on the whole train split; ours holds out its validation share.
    ref_ips = len(ds.x_train) * epochs / ref_clock.train_seconds
    arch = results["vae@reference"]
    arch_ips = ds.pipes.num_train * arch["epochs_run"] / arch["seconds"]
    results["vae@reference"]["images_per_second_ratio"] = round(arch_ips / ref_ips, 3)
    return results


# ------------------------------------------------------------------------------------ main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--npz",
        help="npz in the keras mnist.npz layout (default: MNIST if "
        "present, else a synthetic MNIST-like file)",
    )
    parser.add_argument("--data_dir", help="TFDS data directory (where sprites is prepared)")
    parser.add_argument(
        "--models",
        help="comma list of our models (default: all registered, "
        "plus vae@reference: our vae at the keras.io VAE's architecture)",
    )
    parser.add_argument("--datasets", default="sprites,npz", help="sprites, npz or both")
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up steps per round")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    parser.add_argument("--inference_repeats", type=int, default=50)
    parser.add_argument(
        "--ttq_epochs",
        type=int,
        default=30,
        help="reference VAE epochs for time to quality (0: skip)",
    )
    parser.add_argument(
        "--checks_per_epoch",
        type=int,
        default=4,
        help="test −ELBO checks per epoch of our default vae",
    )
    parser.add_argument("--peak_seconds", type=float, default=3.0)
    parser.add_argument("--out", default=str(RESULTS), help="folder for benchmark.json/.md")
    parser.add_argument(
        "--readme_only",
        action="store_true",
        help="rewrite README.md's performance block from the existing benchmark.json",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: tiny data, a few steps, 1 epoch, few repeats",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 3, 2, 1
        args.inference_repeats, args.ttq_epochs, args.peak_seconds = 3, min(args.ttq_epochs, 1), 0.2
        args.checks_per_epoch = 1
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.readme_only:
        report = json.loads((Path(args.out) / "benchmark.json").read_text())
        update_readme(report)
        return report
    started = time.time()
    rec = recipe()
    names = args.models.split(",") if args.models else [*convae_tf.list_models(), "vae@reference"]
    npz, npz_note = npz_path(args.npz, args.quick)
    datasets = {}
    for key in args.datasets.split(","):
        spec = "sprites" if key == "sprites" else f"npz:{npz}"
        max_train = 1024 if args.quick else None
        datasets[key] = Dataset(spec, args.data_dir, rec["batch_size"], max_train)
    say(f"recipe {rec}; data: npz = {npz} ({npz_note})")

    peak = measure_peak(args.peak_seconds)
    peak_bf16 = measure_peak(args.peak_seconds, tf.bfloat16)
    say(f"peak: {peak:.1f} GFLOP/s float32 matmul, {peak_bf16:.1f} bfloat16")
    report = {
        "command": " ".join([Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)]),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "peak_gflops_float32_matmul": round(peak, 1),
            # For reference only: bfloat16 training can exceed the float32 peak.
            "peak_gflops_bfloat16_matmul": round(peak_bf16, 1),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "recipe": rec,
        "npz": {"path": str(npz), "what": npz_note},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "training": {},
        "inference": {},
    }

    for key, ds in datasets.items():
        candidates = {name: None for name in names}
        refs = {ref: None for ref in REFERENCES}
        models = {}
        for name in [*refs, *candidates]:
            keras.utils.set_random_seed(0)
            models[name] = (
                REFERENCES[name](ds.image_shape)
                if name in REFERENCES
                else ours(name, ds.image_shape, rec)
            )
        rates = {name: [] for name in models}
        for round_ in range(args.repeats):
            for name, model in models.items():
                rates[name].append(train_throughput(model, name, ds, args.steps, args.warmup))
            say(
                f"{key} round {round_ + 1}: "
                + ", ".join(f"{n} {r[-1]:.0f}" for n, r in rates.items())
            )
        spec = tf.TensorSpec((1, *ds.image_shape), tf.float32)
        rows = {}
        for name, model in models.items():
            flops = 3 * forward_flops(lambda x, m=model, n=name: reconstruct_fn(m, n)(x), spec)
            ips = statistics.median(rates[name])
            ref = REFERENCE_OF.get(
                name.split("@")[0] if name != "vae@reference" else name, "keras_io_denoiser"
            )
            rows[name] = {
                "images_per_second": round(ips, 1),
                "runs": [round(r, 1) for r in rates[name]],
                "train_flops_per_image": flops,
                "gflops_per_second": round(flops * ips / 1e9, 2),
                "share_of_peak": round(flops * ips / 1e9 / peak, 4),
                "parameters": int(model.count_params()),
            }
            if name not in REFERENCES:
                rows[name]["reference"] = ref
                rows[name]["ratio_to_reference"] = median_ratio(rates[name], rates[ref])
        report["training"][key] = {
            "spec": ds.spec,
            "image_shape": list(ds.image_shape),
            "models": rows,
        }

        # Inference on the npz data only (one image size is enough for latency figures).
        if key == ("npz" if "npz" in datasets else key):
            batch64 = ds.x_test[:64]
            with tempfile.TemporaryDirectory(prefix="convae_bench_") as scratch:
                engines = {
                    name: inference_runners(model, name, batch64, Path(scratch))
                    for name, model in models.items()
                }
                timings = {name: {} for name in models}
                for _ in range(max(1, args.repeats)):
                    for name, runners in engines.items():
                        for engine, run in runners.items():
                            for batch in (1, 64):
                                x = batch64[:batch]
                                reps = (
                                    args.inference_repeats
                                    if batch == 1
                                    else max(3, args.inference_repeats // 10)
                                )
                                timings[name].setdefault(f"{engine}@{batch}", []).append(
                                    time_calls(lambda run=run, x=x: run(x), reps)
                                )
            for name, per in timings.items():
                report["inference"][name] = {
                    k: {
                        "latency_ms": round(statistics.median(v) * 1e3, 3),
                        "images_per_second": round(int(k.split("@")[1]) / statistics.median(v), 1),
                    }
                    for k, v in per.items()
                }
                lat = {k: statistics.median(v) for k, v in per.items()}
                report["inference"][name]["int8_over_saved_model_batch1"] = round(
                    lat["tflite_int8@1"] / lat["saved_model@1"], 3
                )
            report["inference_dataset"] = key

    if args.ttq_epochs and "npz" in datasets:
        report["time_to_quality"] = time_to_quality(
            datasets["npz"], args.ttq_epochs, args.checks_per_epoch, rec
        )
    report["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "benchmark.md").write_text(markdown(report))
    if not args.quick and Path(args.out).resolve() == RESULTS.resolve():
        update_readme(report)
    say(f"done in {report['seconds']} s: {out / 'benchmark.json'}, {out / 'benchmark.md'}")
    print(markdown(report))
    return report


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Benchmark: convae_tf vs the keras.io reference autoencoders",
        "",
        f"`{r['command']}` — {m['cpus']} CPUs ({m['processor']}), TensorFlow {m['tensorflow']}, "
        f"Keras {m['keras']}; measured peak {m['peak_gflops_float32_matmul']} GFLOP/s (float32 "
        f"matmul; bfloat16 {m['peak_gflops_bfloat16_matmul']}: the share of peak is of the "
        f"float32 one, so bfloat16 runs can exceed 100%). Our recipe: {r['recipe']}. "
        f"npz: {r['npz']['what']}. Ratios are ours / the "
        "reference, medians over alternating rounds measured side by side.",
        "",
        "## Training throughput (steady state)",
        "",
        "| data | model | images/s | ratio to reference | train GFLOP/image | GFLOP/s | share of "
        "peak | parameters |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for key, block in r["training"].items():
        for name, row in block["models"].items():
            ratio = (
                f"{row['ratio_to_reference']:.2f}× {row['reference']}"
                if "reference" in row
                else "(reference)"
            )
            lines.append(
                f"| {key} {tuple(block['image_shape'])} | {name} | {row['images_per_second']:.0f} "
                f"| {ratio} | {row['train_flops_per_image'] / 1e9:.4f} | "
                f"{row['gflops_per_second']:.1f} | {100 * row['share_of_peak']:.1f}% | "
                f"{row['parameters']:,} |"
            )
    if r["inference"]:
        lines += [
            "",
            f"## Inference ({r.get('inference_dataset')}; reconstruct; latency ms per call / "
            "images/s)",
            "",
            "| model | engine | batch 1 ms | batch 1 img/s | batch 64 ms | batch 64 img/s |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for name, per in r["inference"].items():
            for engine in ("keras", "saved_model", "tflite_float32", "tflite_int8"):
                a, b = per[f"{engine}@1"], per[f"{engine}@64"]
                lines.append(
                    f"| {name} | {engine} | {a['latency_ms']:.3f} | "
                    f"{a['images_per_second']:.0f} | {b['latency_ms']:.2f} | "
                    f"{b['images_per_second']:.0f} |"
                )
        lines.append("")
        lines.append(
            "int8 TFLite / SavedModel latency at batch 1: "
            + ", ".join(
                f"{n} {p['int8_over_saved_model_batch1']:.2f}" for n, p in r["inference"].items()
            )
        )
    t = r.get("time_to_quality")
    if t:
        ref = t["reference"]
        lines += [
            "",
            "## Time to quality (test negative ELBO, nats per image, at the posterior mean)",
            "",
            "| run | epochs | train seconds | final test −ELBO | seconds to the reference's "
            "final −ELBO | time ratio | images/s ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| keras.io VAE (reference) | {ref['epochs']} | {ref['seconds']:.1f} | "
            f"{ref['test_negative_elbo']:.2f} | {ref['seconds']:.1f} | 1.00 | 1.00 |",
        ]
        for name in ("vae", "vae@reference"):
            row = t[name]
            reached = row["seconds_to_reference_elbo"]
            ratio = row["time_ratio_to_reference"]
            lines.append(
                f"| {name} | {row['epochs_run']} | {row['seconds']:.1f} | "
                f"{row['test_negative_elbo']:.2f} | "
                f"{reached if reached is not None else 'not reached'} | "
                f"{ratio if ratio is not None else '—'} | "
                f"{row.get('images_per_second_ratio', '—')} |"
            )
    return "\n".join(lines) + "\n"


def readme_summary(r: dict) -> str:
    """The headline ratios of issue #6's targets, for README.md (never typed by hand)."""
    npz = r["training"]["npz"]["models"]
    sprites = r["training"].get("sprites", {}).get("models", {})
    ttq = r.get("time_to_quality", {})
    inference = r["inference"]
    int8 = {name: v["int8_over_saved_model_batch1"] for name, v in inference.items()}
    rows = [
        (
            "our `vae` at the keras.io VAE's architecture, training images/s",
            "≥ 1.5×",
            f"{npz['vae@reference']['ratio_to_reference']:.2f}× (npz), "
            f"{sprites.get('vae@reference', {}).get('ratio_to_reference', float('nan')):.2f}× "
            "(sprites)",
        ),
        (
            "…the same, over whole 30-epoch training runs (npz; one run each, not steady state)",
            "—",
            f"{ttq['vae@reference']['images_per_second_ratio']:.2f}×"
            if "vae@reference" in ttq
            else "—",
        ),
        (
            "…its test −ELBO after 30 epochs (nats; reference in brackets)",
            "≤ reference",
            f"{ttq['vae@reference']['test_negative_elbo']:.1f} "
            f"({ttq['reference']['test_negative_elbo']:.1f})"
            if "vae@reference" in ttq
            else "—",
        ),
        (
            "our default `vae`: wall time to the reference's 30-epoch test −ELBO",
            "≤ 0.5×",
            f"{ttq['vae']['time_ratio_to_reference']:.2f}×" if "vae" in ttq else "—",
        ),
        (
            "int8 TFLite / SavedModel latency at batch 1",
            "≤ 0.5×",
            f"{min(int8.values()):.2f}–{max(int8.values()):.2f}× over every model",
        ),
    ]
    m = r["machine"]
    lines = [
        f"Generated by `{r['command']}` ({r['seconds']:.0f} s) on {m['cpus']} CPUs "
        f"({m['processor']}), TensorFlow {m['tensorflow']}, Keras {m['keras']}. Training data for "
        f"the npz rows: {r['npz']['what']}. Ratios are ours / the reference, medians of "
        "alternating rounds measured side by side in one run. Recipe: "
        f"{', '.join(f'{k}={v}' for k, v in r['recipe'].items())}.",
        "",
        "| target | goal | measured |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "| model (npz 28×28×1) | training images/s | ratio | GFLOP/s (share of float32 peak "
        f"{m['peak_gflops_float32_matmul']:.0f}) |",
        "| --- | ---: | --- | --- |",
    ]
    for name, v in npz.items():
        ratio = (
            f"{v['ratio_to_reference']:.2f}× {v['reference']}" if "reference" in v else "reference"
        )
        lines.append(
            f"| {name} | {v['images_per_second']:.0f} | {ratio} | "
            f"{v['gflops_per_second']:.0f} ({v['share_of_peak']:.0%}) |"
        )
    return "\n".join(lines) + "\n"


def update_readme(report: dict) -> None:
    if readme_block.replace("benchmark", readme_summary(report)):
        say("wrote the README performance block")
    else:
        say("README.md has no benchmark block; left alone")


if __name__ == "__main__":
    main()
