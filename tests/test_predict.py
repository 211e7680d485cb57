"""The predict CLI on an exported model: PNG files and npz in, PNG / npy / CSV out. Every run
needs an export (with TFLite conversions), so all but the input checks are slow; its bad input
on the command line: tests/test_bad_input.py."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ENV, TINY, blob_images, run_cli, run_python
from PIL import Image

from convae_tf.deploy import predict

PREDICT_PY = Path(predict.__file__)


@pytest.fixture(scope="module")
def version_dir(exported):
    return exported("ae")  # SavedModel, float32 and int8 .tflite


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pngs")
    for i, image in enumerate(blob_images(3, 16, seed=5)):
        Image.fromarray(image[..., 0]).save(folder / f"img{i}.png")
    return folder


def run_predict(*flags, standalone=False):
    """`python -m convae_tf.predict`, or predict.py run as a plain script that must never
    import convae_tf (what a device beside the exported files would do)."""
    if not standalone:
        return run_cli("predict", *flags)
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{str(PREDICT_PY)!r}, *{list(flags)!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(PREDICT_PY)!r}, run_name='__main__')\n"
        "finally:\n"
        "    assert 'convae_tf' not in sys.modules, 'convae_tf was imported'\n"
    )
    return run_python("-c", code)


def test_images_are_read_as_they_are_or_refused_by_name(png_folder, tmp_path):
    """predict never resizes or converts: an image of another size or channel count is refused
    with its name and both shapes (the folder's other images are fine)."""
    names, array = predict.read_images(png_folder, (16, 16, 1))
    assert names == ["img0.png", "img1.png", "img2.png"]
    np.testing.assert_array_equal(array, blob_images(3, 16, seed=5).astype(np.float32) / 255.0)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for png in png_folder.iterdir():
        (inputs / png.name).write_bytes(png.read_bytes())
    Image.fromarray(np.zeros((20, 18), np.uint8)).save(inputs / "zz_wrong.png")
    with pytest.raises(predict.InputError, match=r"zz_wrong.png: image is 20x18x1 .* 16x16x1"):
        predict.read_images(inputs, (16, 16, 1))
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(predict.InputError, match=r"rgb.png: image is 16x16x3 .* 16x16x1"):
        predict.read_images(tmp_path / "rgb.png", (16, 16, 1))


PNG_NAMES = ["img0.png", "img1.png", "img2.png"]


def reconstructed_pngs(out, version_dir, png_folder, tmp_path):
    assert sorted(p.name for p in out.iterdir()) == PNG_NAMES
    with Image.open(out / "img0.png") as image:
        assert image.size == (16, 16) and image.mode == "L"


def codes_of_each_file(out, version_dir, png_folder, tmp_path):
    codes = np.load(out / "code.npy")
    assert codes.shape == (3, TINY["latent_dim"]) and np.isfinite(codes).all()
    assert (out / "files.txt").read_text().split() == PNG_NAMES


def scores_as_the_saved_model_gives(out, version_dir, png_folder, tmp_path):
    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == PNG_NAMES
    in_process = predict.predict(str(version_dir), "score", str(png_folder), str(tmp_path / "sm"))
    expected = [float(line.split(",")[1]) for line in in_process["scores.csv"].decode().split()[1:]]
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, task, standalone, check",
    [
        pytest.param(
            lambda version: version.parent,  # the parent: its highest version is used
            "reconstruct",
            True,
            reconstructed_pngs,
            id="reconstruct-saved_model-standalone",
        ),
        pytest.param(
            lambda version: version / "model_int8.tflite",
            "encode",
            False,
            codes_of_each_file,
            id="encode-int8_tflite",
        ),
        pytest.param(
            lambda version: version / "model_float32.tflite",
            "score",
            False,
            scores_as_the_saved_model_gives,
            id="score-float32_tflite",
        ),
    ],
)
def test_predict_pngs(version_dir, png_folder, tmp_path, model, task, standalone, check):
    out = tmp_path / "out"
    result = run_predict(
        f"--model={model(version_dir)}",
        f"--task={task}",
        f"--input={png_folder}",
        f"--output={out}",
        standalone=standalone,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    check(out, version_dir, png_folder, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["cli", "standalone"])
def test_predict_imports_neither_keras_nor_the_model_classes(
    version_dir, png_folder, tmp_path, how
):
    # Start-up time that running an exported model never uses (utils/quiet.py), in the package
    # CLI and in predict.py run as a plain script. Native logs on, so that nothing on stderr is
    # held back, the import-time lines included.
    out = tmp_path / "out"
    flags = [f"--model={version_dir}", f"--input={png_folder}", f"--output={out}"]
    env = {**ENV, "TF_CPP_MIN_LOG_LEVEL": "0"}
    command = ["-m", "convae_tf.predict"] if how == "cli" else [str(PREDICT_PY)]
    result = run_python("-X", "importtime", *command, *flags, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    reconstructed_pngs(out, version_dir, png_folder, tmp_path)
    imported = set(re.findall(r"^import time:.*\| +(\S+)$", result.stderr, re.MULTILINE))
    assert "tensorflow" in imported
    assert ("convae_tf.deploy.predict" in imported) == (how == "cli")
    assert not {m for m in imported if m.split(".")[0] == "keras" or m == "convae_tf.models"}


@pytest.mark.slow
def test_decode_codes_and_npz_images(version_dir, tmp_path):
    images = blob_images(4, 16, seed=2)
    np.savez(tmp_path / "test.npz", x_test=images[..., 0])  # N×H×W uint8, as in mnist.npz
    encoded = predict.predict(
        str(version_dir), "encode", str(tmp_path / "test.npz"), tmp_path / "e"
    )
    assert "code.npy" in encoded
    decoded = predict.predict(
        str(version_dir / "model_float32.tflite"),
        "decode",
        str(tmp_path / "e/code.npy"),
        str(tmp_path / "d"),
    )
    assert sorted(decoded) == [f"decoded_{i:05d}.png" for i in range(4)]
    with pytest.raises(predict.InputError, match="N×2"):
        np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
        predict.predict(str(version_dir), "decode", str(tmp_path / "bad.npy"), tmp_path / "x")


@pytest.mark.slow
def test_score_on_a_file_unfit_for_the_score_warns_once(version_dir, png_folder, tmp_path):
    """An int8 file whose AUROC fell at export is marked in the card beside it; scoring with
    it warns in one line, the stand-alone script too, and other tasks and files do not."""
    copied = Path(shutil.copytree(version_dir, tmp_path / "export"))
    card = json.loads((copied / "model_card.json").read_text())
    assert "score" in card["files"]["int8"]["fit_for"]  # the tiny unfitted export keeps it
    card["files"]["int8"]["fit_for"] = ["reconstruction"]
    (copied / "model_card.json").write_text(json.dumps(card))
    int8, float32 = copied / "model_int8.tflite", copied / "model_float32.tflite"

    def warnings(model, task):
        result = run_predict(
            f"--model={model}",
            f"--task={task}",
            f"--input={png_folder}",
            f"--output={tmp_path / task}",
            standalone=True,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return [line for line in result.stderr.splitlines() if line.startswith("warning:")]

    (line,) = warnings(int8, "score")
    assert "model_int8.tflite is fit for reconstruction only" in line
    assert warnings(int8, "encode") == [] and warnings(float32, "score") == []
