"""Bad input, everywhere: every CLI answers a wrong flag, a missing or corrupt file, an image of
the wrong shape... with one line on stderr that names the problem, exit code 2, no traceback,
and no partial output. One table, run in parallel subprocesses (each imports TensorFlow)."""

import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
TINY = ["--model=ae", "--model_args=filters=4,8", "--latent_dim=2", "--batch_size=16"]


def run(module, *flags, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", f"convae_tf.{module}", *flags],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=600,
    )


def write_png(path, shape):
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(array.squeeze(-1) if shape[-1] == 1 else array).save(path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A finished tiny run, its export, and a zoo of broken inputs."""
    root = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    np.savez(
        root / "good.npz",
        x_train=rng.integers(0, 256, (200, 16, 16), np.uint8),
        y_train=labels,
        x_test=rng.integers(0, 256, (40, 16, 16), np.uint8),
        y_test=rng.integers(0, 3, 40),
    )
    np.savez(
        root / "unlabelled.npz", x_train=rng.random((50, 16, 16)), x_test=rng.random((9, 16, 16))
    )
    np.savez(root / "no_x_train.npz", images=rng.random((10, 16, 16)))
    np.savez(root / "rank2.npz", x_train=rng.random((10, 16)), x_test=rng.random((10, 16)))
    (root / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (root / "empty").mkdir()
    (root / "corrupt_folder").mkdir()
    write_png(root / "corrupt_folder" / "good.png", (16, 16, 1))
    (root / "corrupt_folder" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "mixed").mkdir()
    write_png(root / "mixed" / "a.png", (16, 16, 1))
    write_png(root / "mixed" / "b.png", (20, 20, 1))
    (root / "not_a_dir").write_text("a file where a folder should be")
    (root / "broken_run").mkdir()
    (root / "broken_run" / "config.json").write_text('{"train": {"dataset": "sprites"}}')
    (root / "broken_run" / "model.keras").write_bytes(b"not a keras file")
    (root / "no_model_run").mkdir()
    unsafe = root / "unsafe_run"  # a model file that would run code when loaded unsafely
    unsafe.mkdir()
    (unsafe / "config.json").write_text('{"train": {"dataset": "sprites"}}')
    inputs = keras.Input((4,))
    lambda_model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    lambda_model.save(unsafe / "model.keras")
    (root / "not_saved_model").mkdir()
    (root / "bad.tflite").write_bytes(b"TFL3 definitely not a flatbuffer")
    write_png(root / "right.png", (16, 16, 1))
    write_png(root / "wrong_size.png", (20, 16, 1))
    write_png(root / "wrong_channels.png", (16, 16, 3))
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    np.save(root / "wrong_codes.npy", np.zeros((3, 5), np.float32))

    run_dir = root / "run"
    trained = run(
        "train",
        *TINY,
        "--epochs=1",
        "--steps_per_epoch=2",
        f"--dataset=npz:{root / 'good.npz'}",
        f"--workdir={run_dir}",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    exported = run(
        "export", f"--workdir={run_dir}", f"--out={root / 'export'}", "--quantize=float32"
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    return root


# (name, module, flags with {root} placeholders, words the message must contain,
#  paths that must not exist afterwards)
CASES = [
    ("train: unknown model", "train", ["--model=aee"], ["unknown model 'aee'", "ae"], ["out1"]),
    ("train: epochs 0", "train", [*TINY, "--epochs=0"], ["--epochs"], ["out1"]),
    ("train: unknown strategy", "train", [*TINY, "--strategy=gpu"], ["strategy"], ["out1"]),
    ("train: unknown dataset", "train", [*TINY, "--dataset=mnistt"], ["mnistt"], ["out1"]),
    (
        "train: missing npz",
        "train",
        [*TINY, "--dataset=npz:{root}/nope.npz"],
        ["nope.npz"],
        ["out1"],
    ),
    (
        "train: corrupt npz",
        "train",
        [*TINY, "--dataset=npz:{root}/corrupt.npz"],
        ["corrupt.npz"],
        ["out1"],
    ),
    (
        "train: npz without x_train",
        "train",
        [*TINY, "--dataset=npz:{root}/no_x_train.npz"],
        ["x_train"],
        ["out1"],
    ),
    (
        "train: npz of wrong rank",
        "train",
        [*TINY, "--dataset=npz:{root}/rank2.npz"],
        ["rank2.npz"],
        ["out1"],
    ),
    ("train: empty folder", "train", [*TINY, "--dataset=folder:{root}/empty"], ["empty"], ["out1"]),
    (
        "train: corrupt image in folder",
        "train",
        [*TINY, "--dataset=folder:{root}/corrupt_folder"],
        ["broken.png"],
        ["out1"],
    ),
    (
        "train: mismatched image sizes",
        "train",
        [*TINY, "--dataset=folder:{root}/mixed"],
        ["image_size"],
        ["out1"],
    ),
    (
        "train: normal_classes without labels",
        "train",
        [*TINY, "--dataset=npz:{root}/unlabelled.npz", "--normal_classes=0"],
        ["label"],
        ["out1"],
    ),
    (
        "train: normal_classes out of range",
        "train",
        [*TINY, "--dataset=npz:{root}/good.npz", "--normal_classes=7"],
        ["normal_classes"],
        ["out1"],
    ),
    (
        "train: unknown model argument",
        "train",
        [*TINY, "--model_args=colour=red"],
        ["colour"],
        ["out1"],
    ),
    (
        "train: missing experiment file",
        "train",
        [*TINY, "--config={root}/nope.py"],
        ["nope.py"],
        ["out1"],
    ),
    (
        "train: unwritable workdir",
        "train",
        [*TINY, "--dataset=npz:{root}/good.npz", "--workdir={root}/not_a_dir/run"],
        ["not_a_dir"],
        [],
    ),
    (
        "train: image_size not numbers",
        "train",
        [*TINY, "--image_size=a,b"],
        ["image_size"],
        ["out1"],
    ),
    (
        "export: missing workdir",
        "export",
        ["--workdir={root}/nope", "--out={root}/out2"],
        ["nope"],
        ["out2"],
    ),
    (
        "export: workdir without a model",
        "export",
        ["--workdir={root}/no_model_run", "--out={root}/out2"],
        ["config.json"],
        ["out2"],
    ),
    (
        "export: corrupt model file",
        "export",
        ["--workdir={root}/broken_run", "--out={root}/out2"],
        ["model.keras"],
        ["out2"],
    ),
    (
        "export: unknown quantization",
        "export",
        ["--workdir={root}/run", "--out={root}/out2", "--quantize=int4"],
        ["int4"],
        ["out2"],
    ),
    (
        "export: unwritable output",
        "export",
        ["--workdir={root}/run", "--out={root}/not_a_dir/x"],
        ["not_a_dir"],
        [],
    ),
    (
        "export: model file with code in it",
        "export",
        ["--workdir={root}/unsafe_run", "--out={root}/out2"],
        ["model.keras", "safe_mode"],
        ["out2"],
    ),
    (
        "evaluate: model file with code in it",
        "evaluate",
        ["--workdir={root}/unsafe_run"],
        ["model.keras", "safe_mode"],
        ["unsafe_run/metrics.json"],
    ),
    ("evaluate: missing workdir", "evaluate", ["--workdir={root}/nope"], ["nope"], []),
    (
        "evaluate: unknown split",
        "evaluate",
        ["--workdir={root}/run", "--split=dev"],
        ["split"],
        ["run/metrics.json"],
    ),
    (
        "evaluate: corrupt model file",
        "evaluate",
        ["--workdir={root}/broken_run"],
        ["model.keras"],
        ["broken_run/metrics.json"],
    ),
    ("embed: missing output flag", "embed", ["--workdir={root}/run"], ["output"], []),
    (
        "embed: unwritable output",
        "embed",
        ["--workdir={root}/run", "--output={root}/not_a_dir/codes.npz"],
        ["not_a_dir"],
        [],
    ),
    (
        "predict: not a SavedModel",
        "predict",
        ["--model={root}/not_saved_model", "--input={root}/right.png", "--output={root}/out3"],
        ["not_saved_model"],
        ["out3"],
    ),
    (
        "predict: corrupt tflite",
        "predict",
        ["--model={root}/bad.tflite", "--input={root}/right.png", "--output={root}/out3"],
        ["bad.tflite"],
        ["out3"],
    ),
    (
        "predict: image of the wrong size",
        "predict",
        ["--model={root}/export", "--input={root}/wrong_size.png", "--output={root}/out3"],
        ["wrong_size.png"],
        ["out3"],
    ),
    (
        "predict: image with the wrong channels",
        "predict",
        ["--model={root}/export", "--input={root}/wrong_channels.png", "--output={root}/out3"],
        ["wrong_channels.png"],
        ["out3"],
    ),
    (
        "predict: corrupt image",
        "predict",
        ["--model={root}/export", "--input={root}/broken.png", "--output={root}/out3"],
        ["broken.png"],
        ["out3"],
    ),
    (
        "predict: missing input",
        "predict",
        ["--model={root}/export", "--input={root}/nope.png", "--output={root}/out3"],
        ["nope.png"],
        ["out3"],
    ),
    (
        "predict: unknown task",
        "predict",
        [
            "--model={root}/export",
            "--task=denoise",
            "--input={root}/right.png",
            "--output={root}/out3",
        ],
        ["task"],
        ["out3"],
    ),
    (
        "predict: codes of the wrong size",
        "predict",
        [
            "--model={root}/export",
            "--task=decode",
            "--input={root}/wrong_codes.npy",
            "--output={root}/out3",
        ],
        ["wrong_codes.npy"],
        ["out3"],
    ),
]


def test_there_are_at_least_25_cases_across_every_cli():
    assert len(CASES) >= 25
    assert {module for _, module, *_ in CASES} == {
        "train",
        "export",
        "evaluate",
        "embed",
        "predict",
    }


def test_bad_input_gives_one_line_exit_2_and_no_partial_output(files):
    def attempt(case):
        name, module, flags, words, absent = case
        flags = [f.format(root=files) for f in flags]
        if module == "train" and not any(f.startswith("--workdir") for f in flags):
            flags.append(f"--workdir={files / 'out1'}")
        return case, run(module, *flags)

    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for (name, _, _, words, absent), result in pool.map(attempt, CASES):
            errors = [line for line in result.stderr.splitlines() if ": error: " in line]
            problems = []
            if result.returncode != 2:
                problems.append(f"exit {result.returncode}")
            if "Traceback" in result.stderr:
                problems.append("a traceback")
            if len(errors) != 1:
                problems.append(f"{len(errors)} error lines")
            elif not all(word in errors[0] for word in words):
                problems.append(f"message {errors[0]!r} lacks {words}")
            problems += [f"left {path}" for path in absent if (Path(files) / path).exists()]
            if problems:
                failures.append(f"{name}: {', '.join(problems)}\n{result.stderr[-600:]}")
    assert not failures, "\n\n".join(failures)
