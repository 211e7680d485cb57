"""Training into a run folder: what a finished run holds, the run-folder rules (never clobber a
finished run, one run per folder, stop at divergence) and same seed, same weights, in-process on
conftest's tiny runs; then `python -m convae_tf.train` end to end in subprocesses on the embedded
sprites data (slow): the default model, strategies, config files, kill and resume.
Its bad input: tests/test_bad_input.py."""

import csv
import fcntl
import json
import random
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import ENV, RUN_EPOCHS, assert_one_line_error, run_cli, run_python, tiny_run_config

from convae_tf import errors
from convae_tf.artifacts import exported_weights, run_folder
from convae_tf.deploy import export
from convae_tf.training import precision, train

QUICK = ["--epochs=2", "--steps_per_epoch=3", "--batch_size=16"]


def history_rows(workdir):
    with open(workdir / "history.csv") as f:
        return list(csv.DictReader(f))


def assert_same_weights(first, second):
    a = keras.saving.load_model(first / "model.keras").get_weights()
    b = keras.saving.load_model(second / "model.keras").get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------- in-process, tiny runs
def test_workdir_holds_every_artifact(trained_run):
    workdir = trained_run("ae")
    for name in ("config.json", "model.keras", "history.csv", "checkpoints/best.keras"):
        assert (workdir / name).stat().st_size > 0, name
    assert any((workdir / "tensorboard").rglob("events.out.tfevents.*"))
    figures = sorted((workdir / "figures").glob("reconstructions_epoch_*.png"))
    assert [f.name for f in figures] == [
        f"reconstructions_epoch_{epoch:03d}.png" for epoch in range(1, RUN_EPOCHS + 1)
    ]
    assert all(f.stat().st_size > 1000 for f in figures)
    assert not (workdir / "backup").exists()  # removed once training finished


def test_history_and_model_are_usable(trained_run):
    workdir = trained_run("ae")
    rows = history_rows(workdir)
    assert [int(r["epoch"]) for r in rows] == list(range(RUN_EPOCHS))
    assert {"loss", "reconstruction", "val_loss"} <= set(rows[0])
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    model = keras.saving.load_model(workdir / "model.keras")
    x = np.zeros((1, 16, 16, 1), np.float32)
    assert tuple(model(x).shape) == x.shape


def test_config_json_is_fully_resolved(trained_run):
    saved = json.loads((trained_run("ae") / "config.json").read_text())
    assert saved["train"]["model"] == "ae" and saved["train"]["epochs"] == RUN_EPOCHS
    assert saved["model_config"]["filters"] == [4, 8] and saved["model_config"]["latent_dim"] == 3
    # The model's defaults that the run left alone are written out too.
    assert saved["model_config"]["pooling"] == "max"
    assert saved["model_config"]["reconstruction_loss"] == "bce"
    assert saved["image_shape"] == [16, 16, 1] and saved["num_classes"] == 3
    # What "auto" resolved to on this machine is written out beside the request.
    assert saved["train"]["precision"] == "auto"
    assert saved["resolved_precision"] == precision.resolve("auto")


def test_same_seed_same_weights(trained_run, toy_npz, tmp_path):
    train.train_and_evaluate(tiny_run_config("ae", f"npz:{toy_npz}", tmp_path / "again"))
    assert_same_weights(trained_run("ae"), tmp_path / "again")


def test_finished_run_is_not_overwritten_without_asking(copied_run, toy_npz):
    workdir = copied_run("ae")
    before = (workdir / "model.keras").read_bytes()
    with pytest.raises(errors.ConfigError, match="already holds a finished run.*--overwrite"):
        train.train_and_evaluate(tiny_run_config("ae", f"npz:{toy_npz}", workdir))
    assert (workdir / "model.keras").read_bytes() == before


def test_a_workdir_in_use_is_refused(toy_npz, tmp_path):
    workdir = tmp_path / "busy"
    workdir.mkdir()
    with open(workdir / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running training would
        with pytest.raises(errors.ConfigError, match="in use by another training run"):
            train.train_and_evaluate(tiny_run_config("ae", f"npz:{toy_npz}", workdir))
    assert not (workdir / "config.json").exists()


def test_a_bad_model_argument_fails_before_the_data_are_read(tmp_path):
    # Preparing a dataset can take minutes: a typo in --model_args is reported first.
    cfg = tiny_run_config("ae", f"npz:{tmp_path / 'missing.npz'}", tmp_path / "run")
    cfg.model_args["pooling"] = "median"
    with pytest.raises(errors.ConfigError, match="pooling"):
        train.train_and_evaluate(cfg)
    assert not (tmp_path / "run").exists()


def trained_weights(workdir):  # not the anomaly score's statistics, refitted after training
    model = keras.saving.load_model(workdir / "model.keras")
    return [w.numpy() for w in model.trainable_weights]


def test_init_from_starts_from_the_weights_of_a_finished_run(trained_run, toy_npz, tmp_path):
    source = trained_run("ae")
    # Adam moves each weight by about the learning rate per step: at 1e-9 the run ends where
    # it started, so its weights are the source's, not a new random draw.
    cfg = tiny_run_config("ae", f"npz:{toy_npz}", tmp_path / "more", learning_rate=1e-9)
    cfg.init_from = str(source)
    train.train_and_evaluate(cfg)
    started = trained_weights(source)
    for before, after in zip(started, trained_weights(tmp_path / "more"), strict=True):
        np.testing.assert_allclose(after, before, atol=1e-6)
    fresh = tiny_run_config("ae", f"npz:{toy_npz}", tmp_path / "fresh", learning_rate=1e-9)
    train.train_and_evaluate(fresh)
    drawn = trained_weights(tmp_path / "fresh")
    assert any(not np.allclose(a, b, atol=1e-3) for a, b in zip(drawn, started, strict=True))


@pytest.fixture(scope="module")
def exported_ae(trained_run, tmp_path_factory):
    """The tiny `ae` run exported (SavedModel only) into a model folder NAME/1/."""
    out = tmp_path_factory.mktemp("exported") / "ae"
    export.export(trained_run("ae"), out, quantize="none")
    return out


def test_init_from_an_export_starts_from_its_weights(trained_run, exported_ae, toy_npz, tmp_path):
    # The model folder, as the shipped models are named: its highest version is read. Its
    # SavedModel keeps no Keras names; keras_weights.json maps them back.
    cfg = tiny_run_config("ae", f"npz:{toy_npz}", tmp_path / "tuned", learning_rate=1e-9)
    cfg.init_from = str(exported_ae)
    train.train_and_evaluate(cfg)
    started = trained_weights(trained_run("ae"))
    for before, after in zip(started, trained_weights(tmp_path / "tuned"), strict=True):
        np.testing.assert_allclose(after, before, atol=1e-6)


def test_init_from_an_unusable_export_is_refused(exported_ae, toy_npz, tmp_path):
    wider = tiny_run_config("ae", f"npz:{toy_npz}", tmp_path / "wider")
    wider.model_args["filters"] = (4, 16)
    wider.init_from = str(exported_ae / "1")
    with pytest.raises(errors.ConfigError, match="another architecture.*config.json"):
        train.train_and_evaluate(wider)
    older = shutil.copytree(exported_ae, tmp_path / "older")
    (older / "1" / exported_weights.INDEX_FILE).unlink()  # as exports before it was written
    cfg = tiny_run_config("ae", f"npz:{toy_npz}", tmp_path / "run")
    cfg.init_from = str(older)
    with pytest.raises(errors.ConfigError, match="no readable keras_weights.json.*export"):
        train.train_and_evaluate(cfg)
    truncated = shutil.copytree(exported_ae, tmp_path / "truncated")
    (data_file,) = (truncated / "1" / "variables").glob("variables.data-*")
    data_file.write_bytes(data_file.read_bytes()[:10])
    cfg.init_from = str(truncated)
    with pytest.raises(errors.ConfigError, match="variables/ cannot be read.*export the model"):
        train.train_and_evaluate(cfg)
    assert not (tmp_path / "wider").exists() and not (tmp_path / "run").exists()


def test_init_from_a_missing_file_fails_before_the_data_are_read(tmp_path):
    cfg = tiny_run_config("ae", f"npz:{tmp_path / 'missing.npz'}", tmp_path / "run")
    cfg.init_from = str(tmp_path / "nowhere.keras")
    with pytest.raises(errors.ConfigError, match="--init_from=.*nowhere.keras.*no such"):
        train.train_and_evaluate(cfg)
    assert not (tmp_path / "run").exists()


def test_init_from_another_architecture_is_refused(trained_run, toy_npz, tmp_path):
    cfg = tiny_run_config("ae", f"npz:{toy_npz}", tmp_path / "wider")
    cfg.model_args["filters"] = (4, 16)
    cfg.init_from = str(trained_run("ae"))
    with pytest.raises(errors.ConfigError, match="could not be loaded into this model"):
        train.train_and_evaluate(cfg)
    assert not (tmp_path / "wider").exists()


def test_the_lock_dies_with_its_process(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    holder = run_python(
        "-c",
        "import fcntl, os\n"
        f"h = open({str(workdir / '.lock')!r}, 'a')\n"
        "fcntl.flock(h, fcntl.LOCK_EX)\nos.kill(os.getpid(), 9)",
    )
    assert holder.returncode == -9  # killed while holding the lock
    with run_folder.exclusive(workdir):  # free again: no stale lock
        pass


# A tiny run with a learning rate that makes it diverge, started in-process or on the command
# line (which must also say so in one line).
DIVERGING = {"epochs": 3, "steps_per_epoch": 20, "learning_rate": 1e12}


def diverge_in_process(dataset, workdir):
    cfg = tiny_run_config("ae", dataset, workdir, **DIVERGING)
    with pytest.raises(errors.ConfigError, match="training diverged.*--learning_rate"):
        train.train_and_evaluate(cfg)


def diverge_on_the_command_line(dataset, workdir):
    result = run_cli(
        "train",
        "--model=ae",
        f"--dataset={dataset}",
        f"--workdir={workdir}",
        "--batch_size=16",
        *(f"--{name}={value}" for name, value in DIVERGING.items()),
    )
    # Keras's progress lines go to stdout; stderr holds the error alone.
    assert_one_line_error(result, "training diverged", "--learning_rate")


@pytest.mark.parametrize(
    "diverge",
    [diverge_in_process, pytest.param(diverge_on_the_command_line, marks=pytest.mark.slow)],
    ids=["in_process", "command_line"],
)
def test_divergence_stops_at_once(diverge, toy_npz, tmp_path):
    workdir = tmp_path / "nan"
    diverge(f"npz:{toy_npz}", workdir)
    assert not (workdir / "model.keras").exists()
    assert len(history_rows(workdir)) == 1  # stopped in the first epoch, not three
    assert not (workdir / "checkpoints" / "best.keras").exists()  # no NaN model kept as best


def test_the_cosine_schedule_decays_the_learning_rate_to_zero_over_the_run(toy_npz, tmp_path):
    cfg = tiny_run_config("dae", f"npz:{toy_npz}", tmp_path / "cosine", lr_schedule="cosine")
    train.train_and_evaluate(cfg)
    optimizer = keras.saving.load_model(tmp_path / "cosine" / "model.keras").optimizer
    assert int(optimizer.iterations) == cfg.epochs * cfg.steps_per_epoch
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["initial_learning_rate"] == cfg.learning_rate


# ------------------------------------------------------ the CLI end to end (subprocesses)
def run_train(*flags, data_dir):
    return run_cli("train", f"--data_dir={data_dir}", *flags)


@pytest.mark.slow
def test_the_default_run_is_the_vae_and_writes_every_artifact(tmp_path, sprites_dir):
    workdir = tmp_path / "default"
    result = run_train(*QUICK, f"--workdir={workdir}", data_dir=sprites_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {"kl", "val_kl", "reconstruction"} <= set(history_rows(workdir)[0])
    assert type(keras.saving.load_model(workdir / "model.keras")).__name__ == "VAE"
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["train"]["dataset"] == "sprites" and saved["image_shape"] == [32, 32, 1]
    assert saved["model_config"]["filters"] == [32, 64]  # the model's defaults, written out
    assert (workdir / "checkpoints" / "best.keras").stat().st_size > 0
    assert len(list((workdir / "figures").glob("reconstructions_epoch_*.png"))) == 2
    assert not (workdir / "backup").exists()
    assert f"Results in {workdir}" in result.stdout


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus(tmp_path, sprites_dir):
    workdir = tmp_path / "mirrored"
    result = run_train(
        "--model=ae",
        *QUICK,
        "--strategy=mirrored",
        "--logical_cpus=2",
        f"--workdir={workdir}",
        data_dir=sprites_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stdout
    assert (workdir / "model.keras").exists()


@pytest.mark.slow
def test_experiment_config_with_flag_override(tmp_path, sprites_dir):
    workdir = tmp_path / "exp"
    result = run_train(
        "--config=experiments/configs/ae_sprites.py",
        "--config.learning_rate=0.002",
        *QUICK,
        "--epochs=1",
        f"--workdir={workdir}",
        data_dir=sprites_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((workdir / "config.json").read_text())["train"]
    assert saved["epochs"] == 1  # a flag over the file's 10
    assert saved["latent_dim"] == 16 and saved["model"] == "ae"  # the file's, over the defaults
    assert saved["learning_rate"] == 0.002  # --config.FIELD


@pytest.mark.slow
def test_run_killed_three_times_ends_like_an_uninterrupted_one(tmp_path, sprites_dir):
    # Tuple-valued flags on purpose: the resume check must compare them as saved in JSON.
    flags = [
        "--model=ae",
        "--epochs=6",
        "--steps_per_epoch=15",
        "--batch_size=16",
        "--model_args=filters=8,16",
        f"--data_dir={sprites_dir}",
    ]
    workdir = tmp_path / "killed"
    rng = random.Random(7)
    for backed_up_epochs in (1, 2, 4):
        process = subprocess.Popen(
            [sys.executable, "-m", "convae_tf.train", *flags, f"--workdir={workdir}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=ENV,
        )
        deadline = time.time() + 180
        while run_folder.resume_epoch(workdir) < backed_up_epochs and time.time() < deadline:
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        # A random moment after that backup: mid-epoch, or while files are being written.
        time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not (workdir / "model.keras").exists()

    resumed = run_cli("train", *flags, f"--workdir={workdir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(resuming)" in resumed.stdout
    assert [int(row["epoch"]) for row in history_rows(workdir)] == list(range(6))

    straight = run_cli("train", *flags, f"--workdir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-3000:]
    # Op determinism + per-epoch data order + restored optimizer: the same weights, exactly.
    assert_same_weights(workdir, tmp_path / "straight")
