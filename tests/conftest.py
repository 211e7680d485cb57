"""What the tests share, defined once: the environment of this process and of the programs it
starts, tiny models and images, subprocess runs with the check of a CLI's one-line error, and
session fixtures for the data and the finished runs that several files use.

Test files import the helpers (`from conftest import ...`); fixtures need no import."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Quieter TensorFlow logs in test output; must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
# For the programs the tests start: the level a CLI picks by itself (its native logs hidden).
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


# ---------------------------------------------------------------- tiny models and images
TINY = {"filters": (4, 8), "latent_dim": 2}
SHAPE = (16, 16, 1)


def tiny_model(name, **overrides):
    """A compiled registered model, 16×16×1-sized: filters (4, 8), latent 2."""
    import keras

    import convae_tf

    model = convae_tf.get_model(name, **{**TINY, **overrides})
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def images(shape=SHAPE, batch=2, seed=0):
    return np.random.default_rng(seed).random((batch, *shape), dtype=np.float32)


def toy_images(labels, rng):
    """uint8 16×16×1 images: a bright square whose corner depends on the label (0, 1 or 2),
    plus faint noise; structured, so that training and a linear probe mean something."""
    out = rng.uniform(0.0, 0.1, size=(len(labels), 16, 16, 1))
    for i, label in enumerate(labels):
        top, left = [(2, 2), (2, 9), (9, 5)][label]
        out[i, top : top + 5, left : left + 5] = 1.0
    return (out * 255).astype(np.uint8)


def blob_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 N×size×size×1 images of one bright disc each."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size, 1), np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(0.25 * size, 0.75 * size, 2)
        radius = rng.uniform(0.1 * size, 0.3 * size)
        out[i, ..., 0] = 255 * ((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2)
    return out


def write_png(path, pixels):
    """Saves `pixels` (H×W or H×W×C, values 0-255) as a PNG, making missing folders."""
    from PIL import Image

    pixels = np.asarray(pixels, np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]  # grayscale: PIL takes H×W
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


# ------------------------------------------------------------------ identifiable images
# Images per class of `class_folder`: more than the folder loader decodes up front
# (image_files.PREFLIGHT_FILES), so that files sorted last are only met while streaming.
PER_CLASS = 20


def constant_png(path, value, shape=(6, 5, 3)):
    """A constant image whose value (0-255) identifies it."""
    return write_png(path, np.full(shape, value, np.uint8))


def class_folder(root, per_class=PER_CLASS):
    """Classes 'cat' (label 0, values 0..) and 'dog' (label 1, values 100..)."""
    for label, name in enumerate(["cat", "dog"]):
        for i in range(per_class):
            constant_png(root / name / f"{i:02d}.png", 100 * label + i)
    return f"folder:{root}"


def identify(image) -> int:
    """The identifying value (0-255) of an image of `class_folder`, from its first pixel."""
    return int(round(float(np.asarray(image).reshape(-1)[0]) * 255))


def values(ds):
    """The identifying value of every image of a dataset of examples or of images, in order."""
    return [
        identify(element["image"] if isinstance(element, dict) else element)
        for element in ds.as_numpy_iterator()
    ]


def labelled(ds):
    """(value, label) of every example of a dataset, in order."""
    return [(identify(ex["image"]), int(ex["label"])) for ex in ds.as_numpy_iterator()]


def batch_values(batches):
    """The same for image batches: a dataset of them, or a list."""
    if hasattr(batches, "as_numpy_iterator"):
        batches = batches.as_numpy_iterator()
    return [identify(image) for batch in batches for image in np.asarray(batch)]


# ------------------------------------------------------------------------ subprocesses
def run_python(*args, env=None, cwd=None, timeout=600):
    """`python *args` in a subprocess, its output captured as text."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV if env is None else env,
        cwd=cwd,
        timeout=timeout,
    )


def run_cli(program, *flags, **kwargs):
    """`python -m convae_tf.<program> *flags` (train, export, evaluate, embed, predict)."""
    return run_python("-m", f"convae_tf.{program}", *flags, **kwargs)


def assert_one_line_error(result, *fragments, program=None, other_lines=False):
    """`result`, a finished CLI, failed as a CLI fails on bad input: exit code 2, one line on
    stderr, `<program>: error: <message>`, whose message holds every fragment, and no traceback.
    `program` defaults to the module's file name (`python -m convae_tf.train` → train.py);
    `other_lines`: stderr may hold other lines too (native logs the user asked for).
    Returns the error line."""
    if program is None:
        module = result.args[result.args.index("-m") + 1]
        program = module.rsplit(".", 1)[-1] + ".py"
    stderr = result.stderr
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith(f"{program}: error: ")]
    assert result.returncode == 2, f"exit code {result.returncode}\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, f"a traceback\n{stderr[-3000:]}"
    assert len(errors) == 1, f"{len(errors)} lines '{program}: error: ...'\n{stderr[-3000:]}"
    assert other_lines or lines == errors, f"lines besides the error\n{stderr[-3000:]}"
    missing = [fragment for fragment in fragments if fragment not in errors[0]]
    assert not missing, f"{errors[0]!r} lacks {missing}"
    return errors[0]


# ------------------------------------------------------------------- session fixtures
@pytest.fixture(scope="session")
def sprites_dir(tmp_path_factory):
    """A TFDS data dir with the embedded `sprites` dataset prepared once per session."""
    from convae_tf.data import load_source

    path = tmp_path_factory.mktemp("tfds")
    load_source("sprites", data_dir=str(path))
    return path


@pytest.fixture(scope="session")
def toy_npz(tmp_path_factory):
    """An npz dataset (keras.datasets' layout) of labelled 16×16×1 toy images: 240 train,
    90 test, labels 0, 1, 2."""
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 3, 240), rng.integers(0, 3, 90)
    path = tmp_path_factory.mktemp("data") / "toy.npz"
    np.savez(
        path,
        x_train=toy_images(y_train, rng),
        x_test=toy_images(y_test, rng),
        y_train=y_train,
        y_test=y_test,
    )
    return path


# name: (model_args, normal_classes) of the tiny runs below, where not ({}, None): `run_kind`.
RUN_KINDS = {
    "ae": ({}, (0,)),
    "stacked": ({"pretrain_epochs": 0}, None),
    "vae": ({}, (0,)),
}
RUN_EPOCHS = 2


def run_kind(name):
    """(model_args, normal_classes) of the tiny run of model `name`."""
    return RUN_KINDS.get(name, ({}, None))


def tiny_run_config(name, dataset, workdir, **changes):
    """The training config of a tiny run: `config.get_config()` with a few small changes."""
    from convae_tf.training import config

    model_args, normal_classes = run_kind(name)
    cfg = config.get_config()
    cfg.update(
        model=name,
        dataset=dataset,
        epochs=RUN_EPOCHS,
        steps_per_epoch=2,
        batch_size=16,
        latent_dim=3,
        model_args={"filters": (4, 8), **model_args},
        normal_classes=normal_classes,
        workdir=str(workdir),
    )
    cfg.update(changes)
    return cfg


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, toy_npz):
    """name → the workdir of a finished tiny run of that model on `toy_npz`, trained in-process
    as `python -m convae_tf.train` trains (RUN_EPOCHS epochs of 2 steps), once per session.
    Tests may add evaluate's outputs to it; a test that changes more works on a copy
    (`copied_run`)."""
    from convae_tf.training import train

    root = tmp_path_factory.mktemp("runs")
    cache = {}

    def get(name):
        if name not in cache:
            train.train_and_evaluate(tiny_run_config(name, f"npz:{toy_npz}", root / name))
            cache[name] = root / name
        return cache[name]

    return get


@pytest.fixture
def copied_run(trained_run, tmp_path):
    """name → a copy of `trained_run(name)` in this test's tmp_path, free to change."""

    def copy(name):
        return Path(shutil.copytree(trained_run(name), tmp_path / f"run-{name}"))

    return copy


def make_workdir(root: Path, name: str, size: int = 16, steps: int = 1, **model_args) -> Path:
    """A finished training run in train.py's layout (config.json, model.keras) on a tiny npz
    dataset, trained for `steps` batches. Built here rather than through training so that a
    variant whose arguments the training CLI does not yet accept can still be exported."""
    import keras

    import convae_tf
    from convae_tf.training import config
    from convae_tf.utils import files

    workdir = root / f"run-{name}"
    workdir.mkdir(parents=True)
    npz = root / f"blobs{size}.npz"
    if not npz.exists():
        np.savez(npz, x_train=blob_images(48, size), x_test=blob_images(8, size, seed=1))
    keras.utils.set_random_seed(0)
    model = convae_tf.get_model(name, **model_args)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    train_images = blob_images(8 * steps, size).astype(np.float32) / 255.0
    model.fit(train_images, batch_size=8, epochs=1, verbose=0)
    model.save(workdir / "model.keras")
    train = config.get_config()
    train.update(model=name, dataset=f"npz:{npz}", epochs=1, batch_size=8, workdir=str(workdir))
    files.save_json(
        {
            "train": train.to_dict(),
            "model_config": {
                k: v for k, v in model.get_config().items() if k not in ("name", "dtype")
            },
            "image_shape": [size, size, 1],
            "num_classes": None,
        },
        workdir / "config.json",
    )
    return workdir


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """name → the version folder of that model's export (SavedModel, float32 and int8 TFLite,
    model card) from a `make_workdir` run with TINY sizes; made once per session, on first
    use. Its run folder is `<version folder>/../../../run-<name>`."""
    from convae_tf.deploy import export

    cache = {}

    def get(name: str) -> Path:
        if name not in cache:
            root = tmp_path_factory.mktemp(name)
            workdir = make_workdir(root, name, **TINY)
            cache[name] = export.export(workdir, root / "exported" / name, quantize="float32,int8")
        return cache[name]

    return get
