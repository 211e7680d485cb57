"""Quiet CLIs: by default a CLI prints its own lines, Keras's progress and its results; TensorFlow's
C++ logs, absl's INFO lines, TFDS's progress bars and library warnings only on request
(`-v 0`, or the user's own TF_CPP_MIN_LOG_LEVEL). The subprocesses get an environment without
TF_CPP_MIN_LOG_LEVEL (conftest.py sets it for this process), as a user's shell has."""

import os
import re
import sys

import pytest
from conftest import assert_one_line_error, run_cli, run_python

from convae_tf.deploy import predict
from convae_tf.utils import quiet

# absl's log line prefix, from C++ (I0000 00:00:…) and from Python (W1201 02:22:51.138651 …).
LOG_LINE = re.compile(r"^[IWEF]\d{4} ")
NOISE = (
    "cuInit",
    "oneDNN custom operations",
    "cpu_feature_guard",
    "absl::InitializeLog",
    "Warning:",  # Python warnings: "…/epoch_iterator.py:74: UserWarning: …"
    "WARNING:tensorflow",
    "examples/s]",  # TFDS's progress bars
)
MAX_TRAINING_LINES = 40


def user_env(**variables):
    """This environment as a user's shell would have it: no log settings of ours."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TQDM_DISABLE")}
    env.pop("PYTHONWARNINGS", None)
    return {**env, **variables}


def noise_in(lines):
    return [line for line in lines if LOG_LINE.match(line) or any(n in line for n in NOISE)]


@pytest.mark.slow
def test_a_short_training_prints_only_its_own_lines(tmp_path):
    result = run_cli(
        "train",
        "--model=ae",
        "--model_args=filters=4,8",
        "--latent_dim=2",
        "--epochs=1",
        "--steps_per_epoch=3",
        "--batch_size=16",
        f"--workdir={tmp_path / 'run'}",
        f"--data_dir={tmp_path / 'tfds'}",  # sprites prepared on first use: TFDS's bars too
        env=user_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (result.stdout + result.stderr).splitlines()
    assert noise_in(lines) == [], "\n".join(lines)
    assert len(lines) <= MAX_TRAINING_LINES, "\n".join(lines)
    # What stays: our stage lines, Keras's per-epoch line, the results.
    assert any(line.startswith("[convae_tf] data:") for line in lines)
    assert any(line.startswith("3/3 ") and "val_loss" in line for line in lines)
    assert f"Results in {tmp_path / 'run'}" in result.stdout


@pytest.mark.parametrize(
    "flags, env, native_logs",
    [
        ((), {}, False),
        pytest.param(("-v", "0"), {}, True, marks=pytest.mark.slow),
        pytest.param((), {"TF_CPP_MIN_LOG_LEVEL": "0"}, True, marks=pytest.mark.slow),
    ],
    ids=["quiet", "verbose", "own_level_0"],
)
def test_native_logs_only_on_request(tmp_path, flags, env, native_logs):
    # A run that fails on a missing workdir: TensorFlow is imported, then one error line. The
    # quiet case is the default suite's one CLI run: the CLIs start, and fail in one line.
    missing = tmp_path / "missing"
    result = run_cli(
        "embed",
        f"--workdir={missing}",
        f"--output={tmp_path / 'c.npz'}",
        *flags,
        env=user_env(**env),
    )
    assert_one_line_error(result, str(missing), other_lines=native_logs)
    if native_logs:  # e.g. "I0000 … cudart_stub.cc:31] Could not find cuda drivers …"
        assert any(LOG_LINE.match(line) for line in result.stderr.splitlines()), result.stderr


@pytest.mark.parametrize(
    "argv, command, is_cli",
    [
        (["-m", "--epochs=1"], ["python", "-m", "convae_tf.train", "--epochs=1"], True),
        (["-m"], ["python", "-W", "ignore", "-m", "convae_tf.export"], True),
        (
            ["/venv/bin/convae-evaluate", "--workdir=r"],
            ["python", "/venv/bin/convae-evaluate"],
            True,
        ),
        (["-c"], ["python", "-c", "import convae_tf"], False),  # a library user
        (["/venv/bin/pytest"], ["python", "/venv/bin/pytest"], False),
        (
            ["script.py", "-m", "convae_tf.train"],
            ["python", "script.py", "-m", "convae_tf.x"],
            False,
        ),
        (["-m"], ["python", "-m", "experiments.run_anchors"], True),
        (
            ["/repo/experiments/run_anchors.py", "--quick"],  # convae_tf imported by its body
            ["python", "-m", "experiments.run_anchors", "--quick"],
            True,
        ),
        (["-m"], ["python", "-m", "experimental.thing"], False),
    ],
)
def test_only_the_clis_are_quieted(monkeypatch, argv, command, is_cli):
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(sys, "orig_argv", command)
    assert quiet.started_as_cli() is is_cli


@pytest.mark.parametrize(
    "argv, command, module",
    [
        (["/venv/bin/convae-predict"], ["python", "/venv/bin/convae-predict"], "convae_tf.predict"),
        (["-m"], ["python", "-m", "convae_tf.predict", "--input=x"], "convae_tf.predict"),
        (["-m"], ["python", "-m", "experiments.photo_denoise"], "experiments.photo_denoise"),
        (["-c"], ["python", "-c", "import convae_tf"], None),
    ],
)
def test_the_cli_module_is_named(monkeypatch, argv, command, module):
    # convae_tf/__init__ reads it: the predict CLI imports neither the model classes nor Keras.
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(sys, "orig_argv", command)
    assert quiet.cli_module() == module


def test_tensorflow_imports_alone_and_keras_still_imports_after():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('quiet', {quiet.__file__!r})\n"
        "quiet = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(quiet)\n"
        "quiet.import_tensorflow_alone()\n"
        "import tensorflow as tf\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'sklearn'}))\n"
        "import keras\n"
        "print(float(keras.ops.sum(tf.ones(3))))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-2:] == ["[]", "3.0"]


@pytest.mark.parametrize(
    "argv, env, level",
    [
        ([], {}, 3),  # quiet: even the cuInit error on CPU-only machines
        (["--model=ae"], {}, 3),
        (["-v", "0"], {}, 0),
        (["--verbosity=1"], {}, 0),  # absl's DEBUG: everything
        (["--verbosity", "-1"], {}, 1),  # absl's WARNING
        (["-v=-2"], {}, 2),
        (["--verbosity=0", "-v", "-3"], {}, 3),  # the last one wins, as in absl
        (["--", "-v", "0"], {}, 3),  # after "--", not a flag
        (["-v", "0"], {"TF_CPP_MIN_LOG_LEVEL": "2"}, 2),  # the user's own level wins
        ([], {"TF_CPP_MIN_LOG_LEVEL": "0"}, 0),
    ],
)
def test_native_log_level(argv, env, level):
    assert quiet.native_log_level(argv, environ=env) == level


def test_the_hold_back_is_written_once():
    # The stand-alone predict script loads utils/quiet.py from its file instead of importing it:
    # its hold-back must be that file's function, not a copy of it.
    loaded_from = predict.native_info_held_back.__wrapped__.__code__.co_filename
    assert os.path.realpath(loaded_from) == os.path.realpath(quiet.__file__)


HOLD_BACKS = pytest.mark.parametrize(
    "held_back",
    [quiet.native_info_held_back, predict.native_info_held_back],
    ids=["cli", "predict"],
)


@HOLD_BACKS
def test_held_back_output_is_dropped_unless_the_block_fails(monkeypatch, capfd, held_back):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    with held_back():
        os.write(2, b"I0000 start-up noise\n")
    with pytest.raises(RuntimeError), held_back():
        os.write(2, b"what went wrong, in C++\n")
        raise RuntimeError("import failed")
    print("after", file=sys.stderr)
    assert capfd.readouterr().err == "what went wrong, in C++\nafter\n"


@HOLD_BACKS
def test_nothing_is_held_back_when_info_logs_are_wanted(monkeypatch, capfd, held_back):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with held_back():
        os.write(2, b"I0000 wanted\n")
    assert capfd.readouterr().err == "I0000 wanted\n"
