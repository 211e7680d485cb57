"""End-to-end runs of `python -m convae_tf.train` in a subprocess, on the embedded sprites data."""

import csv
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import convae_tf  # noqa: F401  (registers the models for load_model)

QUICK = ["--epochs=2", "--steps_per_epoch=3", "--batch_size=16"]


def run_train(*flags, data_dir, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "convae_tf.train", f"--data_dir={data_dir}", *flags],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir):
    workdir = tmp_path_factory.mktemp("runs") / "ae"
    result = run_train("--model=ae", *QUICK, f"--workdir={workdir}", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


def test_workdir_holds_every_artifact(finished_run):
    workdir, result = finished_run
    for name in ("config.json", "model.keras", "history.csv", "checkpoints/best.keras"):
        assert (workdir / name).stat().st_size > 0, name
    assert any((workdir / "tensorboard").rglob("events.out.tfevents.*"))
    figures = sorted((workdir / "figures").glob("reconstructions_epoch_*.png"))
    assert [f.name for f in figures] == [
        "reconstructions_epoch_001.png",
        "reconstructions_epoch_002.png",
    ]
    assert all(f.stat().st_size > 1000 for f in figures)
    assert not (workdir / "backup").exists()  # removed once training finished
    assert f"Results in {workdir}" in result.stdout


def test_history_and_model_are_usable(finished_run):
    workdir, _ = finished_run
    with open(workdir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"loss", "reconstruction", "val_loss"} <= set(rows[0])
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    model = keras.saving.load_model(workdir / "model.keras")
    x = np.zeros((1, 32, 32, 1), np.float32)
    assert tuple(model(x).shape) == x.shape


def test_config_json_is_fully_resolved(finished_run):
    import json

    workdir, _ = finished_run
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["train"]["model"] == "ae" and saved["train"]["epochs"] == 2
    assert saved["model_config"]["filters"] == [32, 64]  # the model's defaults, written out
    assert saved["image_shape"] == [32, 32, 1]
    # What "auto" resolved to on this machine is written out beside the request.
    from convae_tf.training import precision

    assert saved["train"]["precision"] == "auto"
    assert saved["resolved_precision"] == precision.resolve("auto")


def test_finished_run_is_not_overwritten_without_asking(finished_run, data_dir):
    workdir, _ = finished_run
    before = (workdir / "model.keras").read_bytes()
    result = run_train("--model=ae", *QUICK, f"--workdir={workdir}", data_dir=data_dir)
    assert result.returncode == 2
    assert "already holds a finished run" in result.stderr and "--overwrite" in result.stderr
    assert (workdir / "model.keras").read_bytes() == before


def test_same_seed_same_weights(tmp_path, data_dir, finished_run):
    workdir, _ = finished_run
    again = tmp_path / "again"
    result = run_train("--model=ae", *QUICK, f"--workdir={again}", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    first = keras.saving.load_model(workdir / "model.keras").get_weights()
    second = keras.saving.load_model(again / "model.keras").get_weights()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mirrored_strategy_over_two_logical_cpus(tmp_path, data_dir):
    workdir = tmp_path / "mirrored"
    result = run_train(
        "--model=ae",
        *QUICK,
        "--strategy=mirrored",
        "--logical_cpus=2",
        f"--workdir={workdir}",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stdout
    assert (workdir / "model.keras").exists()


def test_experiment_config_with_flag_override(tmp_path, data_dir):
    workdir = tmp_path / "exp"
    result = run_train(
        "--config=experiments/ae_sprites.py",
        *QUICK,
        "--epochs=1",
        f"--workdir={workdir}",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    saved = json.loads((workdir / "config.json").read_text())
    assert saved["train"]["epochs"] == 1 and saved["train"]["latent_dim"] == 16


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model=nope"], "unknown model 'nope'"),
        (["--epochs=0"], "--epochs"),
        (["--strategy=gpu"], "strategy"),
        (["--strategy=tpu"], "no TPU found"),
        (["--dataset=no_such_dataset_xyz"], "no_such_dataset_xyz"),
        (["--dataset=npz:/nonexistent/file.npz"], "/nonexistent/file.npz"),
        (["--config=/nonexistent/exp.py"], "no such file"),
        (["--model_args=pooling=median"], "pooling"),
        (["--model_args=colour=red"], "no argument colour"),
        (["--normal_classes=a"], "normal_classes"),
        (["positional"], "unexpected arguments"),
        (["--model=stacked"], "leaves no epoch"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(flags, message, tmp_path, data_dir):
    workdir = tmp_path / "bad"
    result = run_train(*flags, *QUICK, f"--workdir={workdir}", data_dir=data_dir)
    assert result.returncode == 2, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert any(message in line for line in error_lines), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (workdir / "model.keras").exists()


def test_a_workdir_in_use_is_refused(tmp_path, data_dir):
    import fcntl

    workdir = tmp_path / "busy"
    workdir.mkdir()
    with open(workdir / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running training would
        result = run_train("--model=ae", *QUICK, f"--workdir={workdir}", data_dir=data_dir)
    assert result.returncode == 2
    assert "in use by another training run" in result.stderr
    assert not (workdir / "config.json").exists()


def test_the_lock_dies_with_its_process(tmp_path):
    from convae_tf.training import run_folder

    workdir = tmp_path / "run"
    holder = (
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys\n"
                f"h = open({str(workdir / '.lock')!r}, 'a')\n"
                "fcntl.flock(h, fcntl.LOCK_EX)\nos.kill(os.getpid(), 9)",
            ],
            check=False,
        )
        if workdir.mkdir() is None
        else None
    )
    assert holder.returncode == -9  # killed while holding the lock
    with run_folder.exclusive(workdir):  # free again: no stale lock
        pass


def test_run_killed_three_times_ends_like_an_uninterrupted_one(tmp_path, data_dir):
    import random
    import signal
    import time

    from convae_tf.training.run_folder import resume_epoch

    # Tuple-valued flags on purpose: the resume check must compare them as saved in JSON.
    flags = [
        "--model=ae",
        "--epochs=6",
        "--steps_per_epoch=15",
        "--batch_size=16",
        "--model_args=filters=8,16",
        f"--data_dir={data_dir}",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    workdir = tmp_path / "killed"
    rng = random.Random(7)
    for backed_up_epochs in (1, 2, 4):
        process = subprocess.Popen(
            [sys.executable, "-m", "convae_tf.train", *flags, f"--workdir={workdir}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.time() + 180
        while resume_epoch(workdir) < backed_up_epochs and time.time() < deadline:
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        # A random moment after that backup: mid-epoch, or while files are being written.
        time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not (workdir / "model.keras").exists()

    resumed = run_train(*flags[:-1], f"--workdir={workdir}", data_dir=data_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(resuming)" in resumed.stdout
    with open(workdir / "history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == list(range(6))

    straight = run_train(*flags[:-1], f"--workdir={tmp_path / 'straight'}", data_dir=data_dir)
    assert straight.returncode == 0, straight.stderr[-3000:]
    # Op determinism + per-epoch data order + restored optimizer: the same weights, exactly.
    killed = keras.saving.load_model(workdir / "model.keras").get_weights()
    uninterrupted = keras.saving.load_model(tmp_path / "straight" / "model.keras").get_weights()
    for a, b in zip(killed, uninterrupted, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_default_model_is_the_vae(tmp_path, data_dir):
    workdir = tmp_path / "default"
    result = run_train(*QUICK, f"--workdir={workdir}", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(workdir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"kl", "val_kl", "reconstruction"} <= set(rows[0])
    assert type(keras.saving.load_model(workdir / "model.keras")).__name__ == "VAE"


def test_divergence_stops_at_once_with_one_line(tmp_path, data_dir):
    workdir = tmp_path / "nan"
    result = run_train(
        "--model=ae",
        "--epochs=3",
        "--steps_per_epoch=20",
        "--batch_size=16",
        "--learning_rate=1e12",
        f"--workdir={workdir}",
        data_dir=data_dir,
    )
    assert result.returncode == 2
    assert "training diverged" in result.stderr and "--learning_rate" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "model.keras").exists()
    with open(workdir / "history.csv") as f:
        assert len(list(csv.DictReader(f))) == 1  # stopped in the first epoch, not three
    assert not (workdir / "checkpoints" / "best.keras").exists()  # no NaN model kept as best
