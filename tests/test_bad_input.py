"""Bad input, everywhere: every CLI answers a wrong flag, a missing or corrupt file, an image of
the wrong shape, a run folder it must not touch... with one line on stderr that names the problem,
exit code 2, no traceback, and no partial output. The one table of such cases for every CLI, run
in parallel subprocesses (each imports TensorFlow): slow. The logic behind each message is
tested in-process beside its module."""

import concurrent.futures
import fcntl
import shutil

import keras
import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, write_png

from convae_tf.deploy import export
from convae_tf.utils import quiet

# A tiny model, so that a case that wrongly trains ends quickly (and then fails).
TINY_FLAGS = ["--model=ae", "--model_args=filters=4,8", "--latent_dim=2", "--batch_size=16"]


def noise(shape):
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory, toy_npz, trained_run):
    """A finished tiny run (16×16×1 images, latent 3), its export, and a zoo of broken inputs."""
    root = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    shutil.copy(toy_npz, root / "good.npz")  # labels 0, 1, 2
    np.savez(
        root / "unlabelled.npz", x_train=rng.random((50, 16, 16)), x_test=rng.random((9, 16, 16))
    )
    np.savez(root / "no_x_train.npz", images=rng.random((10, 16, 16)))
    np.savez(root / "rank2.npz", x_train=rng.random((10, 16)), x_test=rng.random((10, 16)))
    (root / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (root / "empty").mkdir()
    (root / "corrupt_folder").mkdir()
    write_png(root / "corrupt_folder" / "good.png", noise((16, 16, 1)))
    (root / "corrupt_folder" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "mixed").mkdir()
    write_png(root / "mixed" / "a.png", noise((16, 16, 1)))
    write_png(root / "mixed" / "b.png", noise((20, 20, 1)))
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
    write_png(root / "right.png", noise((16, 16, 1)))
    write_png(root / "wrong_size.png", noise((20, 16, 1)))
    write_png(root / "dot.png", noise((1, 1, 1)))
    write_png(root / "wrong_channels.png", noise((16, 16, 3)))
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "one_wrong").mkdir()  # good images, and one of another size last
    for i in range(3):
        write_png(root / "one_wrong" / f"img{i}.png", noise((16, 16, 1)))
    write_png(root / "one_wrong" / "zz_wrong.png", noise((20, 18, 1)))
    np.save(root / "wrong_codes.npy", np.zeros((3, 5), np.float32))
    (root / "busy").mkdir()  # locked by the test, as a running training would

    run = shutil.copytree(trained_run("ae"), root / "run")
    export.export(run, root / "export", quantize="none")
    return root


# (name, program, flags with {root} placeholders, words the message must contain,
#  paths that must not exist afterwards). A train case without --workdir gets {root}/out1.
CASES = [
    ("train: unknown model", "train", ["--model=aee"], ["unknown model 'aee'", "ae"], ["out1"]),
    ("train: epochs 0", "train", [*TINY_FLAGS, "--epochs=0"], ["--epochs"], ["out1"]),
    ("train: unknown strategy", "train", [*TINY_FLAGS, "--strategy=gpu"], ["strategy"], ["out1"]),
    ("train: no TPU", "train", [*TINY_FLAGS, "--strategy=tpu"], ["no TPU found"], ["out1"]),
    (
        "train: init_from a missing file",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/good.npz", "--init_from={root}/nope.keras"],
        ["--init_from", "nope.keras", "no such"],
        ["out1"],
    ),
    (
        "train: init_from a model of another size",  # the run's code has 3 numbers, not 2
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/good.npz", "--init_from={root}/run"],
        ["--init_from", "could not be loaded", "--latent_dim"],
        ["out1"],
    ),
    (
        "train: unknown dataset",
        "train",
        [*TINY_FLAGS, "--dataset=mnistt"],
        ["unknown dataset 'mnistt'"],
        ["out1"],
    ),
    (
        "train: missing npz",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/nope.npz"],
        ["nope.npz"],
        ["out1"],
    ),
    (
        "train: corrupt npz",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/corrupt.npz"],
        ["corrupt.npz"],
        ["out1"],
    ),
    (
        "train: npz without x_train",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/no_x_train.npz"],
        ["x_train"],
        ["out1"],
    ),
    (
        "train: npz of wrong rank",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/rank2.npz"],
        ["rank2.npz"],
        ["out1"],
    ),
    (
        "train: empty folder",
        "train",
        [*TINY_FLAGS, "--dataset=folder:{root}/empty"],
        ["empty"],
        ["out1"],
    ),
    (
        "train: corrupt image in folder",
        "train",
        [*TINY_FLAGS, "--dataset=folder:{root}/corrupt_folder"],
        ["broken.png"],
        ["out1"],
    ),
    (
        "train: mismatched image sizes",
        "train",
        [*TINY_FLAGS, "--dataset=folder:{root}/mixed"],
        ["image_size"],
        ["out1"],
    ),
    (
        "train: normal_classes without labels",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/unlabelled.npz", "--normal_classes=0"],
        ["label"],
        ["out1"],
    ),
    (
        "train: normal_classes out of range",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/good.npz", "--normal_classes=7"],
        ["normal_classes"],
        ["out1"],
    ),
    (
        "train: normal_classes not numbers",
        "train",
        [*TINY_FLAGS, "--normal_classes=a"],
        ["normal_classes"],
        ["out1"],
    ),
    (
        "train: unknown model argument",
        "train",
        [*TINY_FLAGS, "--model_args=colour=red"],
        ["no argument colour"],
        ["out1"],
    ),
    (
        "train: bad model argument value",
        "train",
        [*TINY_FLAGS, "--model_args=pooling=median"],
        ["pooling"],
        ["out1"],
    ),
    (
        "train: a convolutional code that does not fill its grid",
        "train",
        [*TINY_FLAGS, "--model_args=bottleneck=conv"],
        ["latent_dim=2", "multiple of"],
        ["out1"],
    ),
    (
        "train: missing experiment file",
        "train",
        [*TINY_FLAGS, "--config={root}/nope.py"],
        ["nope.py", "no such file"],
        ["out1"],
    ),
    (
        "train: misspelt config field",
        "train",
        [*TINY_FLAGS, "--config.epoch=3"],
        ["unknown fields ['epoch']"],
        ["out1"],
    ),
    (
        "train: a positional argument",
        "train",
        [*TINY_FLAGS, "positional"],
        ["unexpected arguments"],
        ["out1"],
    ),
    (
        "train: no epoch left after pretraining",
        "train",
        [*TINY_FLAGS, "--model=stacked", "--epochs=2"],
        ["leaves no epoch"],
        ["out1"],
    ),
    (
        "train: unwritable workdir",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/good.npz", "--workdir={root}/not_a_dir/run"],
        ["not_a_dir"],
        [],
    ),
    (
        "train: image_size not numbers",
        "train",
        [*TINY_FLAGS, "--image_size=a,b"],
        ["image_size"],
        ["out1"],
    ),
    (
        "train: a finished run",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/good.npz", "--workdir={root}/run"],
        ["already holds a finished run", "--overwrite"],
        [],
    ),
    (
        "train: a workdir in use",
        "train",
        [*TINY_FLAGS, "--dataset=npz:{root}/good.npz", "--workdir={root}/busy"],
        ["in use by another training run"],
        ["busy/config.json"],
    ),
    (
        "train: not a record folder",
        "train",
        [*TINY_FLAGS, "--dataset=tfrecord:{root}/empty"],
        ["no metadata.json", "convae_tf.prepare"],
        ["out1"],
    ),
    ("prepare: no --out", "prepare", ["--dataset=npz:{root}/good.npz"], ["--out"], []),
    (
        "prepare: an existing folder",
        "prepare",
        ["--dataset=npz:{root}/good.npz", "--out={root}/empty"],
        ["already exists", "new --out"],
        [],
    ),
    (
        "prepare: corrupt image in folder",
        "prepare",
        ["--dataset=folder:{root}/corrupt_folder", "--out={root}/out3"],
        ["broken.png", "--bad_files=skip"],
        ["out3"],
    ),
    (
        "prepare: unknown dataset",
        "prepare",
        ["--dataset=mnistt", "--out={root}/out3"],
        ["unknown dataset 'mnistt'"],
        ["out3"],
    ),
    (
        "export: missing workdir",
        "export",
        ["--workdir={root}/nope", "--out={root}/out2"],
        ["nope", "does not exist"],
        ["out2"],
    ),
    (
        "export: workdir without a model",
        "export",
        ["--workdir={root}/no_model_run", "--out={root}/out2"],
        ["no_model_run", "model.keras"],
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
    (
        "evaluate: missing workdir",
        "evaluate",
        ["--workdir={root}/nope"],
        ["nope", "does not exist"],
        [],
    ),
    (
        "evaluate: workdir without a model",
        "evaluate",
        ["--workdir={root}/empty"],
        ["no model.keras"],
        ["empty/metrics.json"],
    ),
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
        "embed: missing workdir",
        "embed",
        ["--workdir={root}/nope", "--output={root}/codes.npz"],
        ["nope", "does not exist"],
        ["codes.npz"],
    ),
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
        "predict: unknown precision",
        "predict",
        [
            "--model={root}/export",
            "--input={root}/right.png",
            "--output={root}/out3",
            "--precision=half",
        ],
        ["--precision=half", "auto|float32|bfloat16"],
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
        "predict: encode an image of the wrong size",
        "predict",
        [
            "--model={root}/export",
            "--task=encode",
            "--input={root}/wrong_size.png",
            "--output={root}/out3",
        ],
        ["wrong_size.png"],
        ["out3"],
    ),
    (
        "predict: encode a folder with one image of the wrong size",
        "predict",
        [
            "--model={root}/export",
            "--task=encode",
            "--input={root}/one_wrong",
            "--output={root}/out3",
        ],
        ["zz_wrong.png", "20x18x1", "16x16x1"],
        ["out3"],
    ),
    (
        "predict: score an image with the wrong channels",
        "predict",
        [
            "--model={root}/export",
            "--task=score",
            "--input={root}/wrong_channels.png",
            "--output={root}/out3",
        ],
        ["wrong_channels.png"],
        ["out3"],
    ),
    (
        "predict: photo smaller than the model",
        "predict",
        ["--model={root}/export", "--input={root}/dot.png", "--output={root}/out3"],
        ["dot.png", "1x1", "smallest size, 16x16"],
        ["out3"],
    ),
    (
        "predict: photo above --max_megapixels",
        "predict",
        [
            "--model={root}/export",
            "--input={root}/right.png",
            "--output={root}/out3",
            "--max_megapixels=0.0001",
        ],
        ["right.png", "0.0001", "--max_megapixels"],
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
        "predict: --output is a file",
        "predict",
        ["--model={root}/export", "--input={root}/right.png", "--output={root}/right.png"],
        ["--output=", "right.png is a file; give a folder"],
        [],
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


def test_the_table_covers_every_cli_without_repeating_a_case():
    assert len(CASES) >= 25
    # Every command-line program (each has a console script convae-<name>).
    assert {program for _, program, *_ in CASES} == set(quiet.ENTRY_POINTS)
    assert len({name for name, *_ in CASES}) == len(CASES)
    assert len({(program, tuple(flags)) for _, program, flags, *_ in CASES}) == len(CASES)


@pytest.mark.slow
def test_bad_input_gives_one_line_exit_2_and_no_partial_output(files):
    def attempt(case):
        _, program, flags, _, _ = case
        flags = [flag.format(root=files) for flag in flags]
        if program == "train" and not any(flag.startswith("--workdir") for flag in flags):
            flags.append(f"--workdir={files / 'out1'}")
        return case, run_cli(program, *flags)

    failures = []
    with open(files / "busy" / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for (name, _, _, words, absent), result in pool.map(attempt, CASES):
                try:
                    assert_one_line_error(result, *words)
                    left = [path for path in absent if (files / path).exists()]
                    assert not left, f"left {left}"
                except AssertionError as error:
                    failures.append(f"{name}: {error}")
    # No partial output anywhere: no temporary file or folder (.NAME.tmp..., .export-tmp-...).
    temporaries = [str(p.relative_to(files)) for p in files.rglob(".*tmp*")]
    assert not failures and not temporaries, "\n\n".join(failures + temporaries)
