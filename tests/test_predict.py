"""The predict CLI on an exported model: PNG files and npz in, PNG / npy / CSV out."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_export import TINY, blob_images, make_workdir

from convae_tf.deploy import export, predict

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
PREDICT_PY = Path(predict.__file__)


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    return export.export(make_workdir(root, "ae", **TINY), root / "exported", "float32,int8")


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pngs")
    for i, image in enumerate(blob_images(3, 16, seed=5)):
        Image.fromarray(image[..., 0]).save(folder / f"img{i}.png")
    return folder


def run_cli(*flags, standalone=False):
    """`python -m convae_tf.predict`, or predict.py run as a plain script that must never
    import convae_tf (what a device beside the exported files would do)."""
    if standalone:
        code = (
            "import runpy, sys\n"
            f"sys.argv = [{str(PREDICT_PY)!r}, *{list(flags)!r}]\n"
            "try:\n"
            f"    runpy.run_path({str(PREDICT_PY)!r}, run_name='__main__')\n"
            "finally:\n"
            "    assert 'convae_tf' not in sys.modules, 'convae_tf was imported'\n"
        )
        command = [sys.executable, "-c", code]
    else:
        command = [sys.executable, "-m", "convae_tf.predict", *flags]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=180)


def test_reconstruct_pngs_with_saved_model_standalone(version_dir, png_folder, tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        f"--model={version_dir.parent}",  # the parent: its highest version is used
        "--task=reconstruct",
        f"--input={png_folder}",
        f"--output={out}",
        standalone=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    with Image.open(out / "img0.png") as image:
        assert image.size == (16, 16) and image.mode == "L"


def test_encode_pngs_with_int8_tflite(version_dir, png_folder, tmp_path):
    out = tmp_path / "out"
    model = version_dir / "model_int8.tflite"
    result = run_cli(
        f"--model={model}", "--task=encode", f"--input={png_folder}", f"--output={out}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    codes = np.load(out / "code.npy")
    assert codes.shape == (3, TINY["latent_dim"]) and np.isfinite(codes).all()
    assert (out / "files.txt").read_text().split() == ["img0.png", "img1.png", "img2.png"]


def test_score_pngs_with_float32_tflite_matches_saved_model(version_dir, png_folder, tmp_path):
    out = tmp_path / "out"
    model = version_dir / "model_float32.tflite"
    result = run_cli(f"--model={model}", "--task=score", f"--input={png_folder}", f"--output={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == ["img0.png", "img1.png", "img2.png"]
    in_process = predict.predict(str(version_dir), "score", str(png_folder), str(tmp_path / "sm"))
    expected = [float(line.split(",")[1]) for line in in_process["scores.csv"].decode().split()[1:]]
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected, rtol=1e-4)


def test_wrong_size_png_is_one_line_exit_2_and_writes_nothing(version_dir, png_folder, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for png in png_folder.iterdir():
        (inputs / png.name).write_bytes(png.read_bytes())
    Image.fromarray(np.zeros((20, 18), np.uint8)).save(inputs / "zz_wrong.png")
    out = tmp_path / "out"
    result = run_cli(
        f"--model={version_dir}", "--task=reconstruct", f"--input={inputs}", f"--output={out}"
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("predict.py: error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "zz_wrong.png" in errors[0] and "20x18x1" in errors[0] and "16x16x1" in errors[0]
    assert not out.exists() and not list(tmp_path.glob(".out.tmp*"))


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


def test_rgb_image_for_grayscale_model_is_refused(version_dir, tmp_path):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(predict.InputError, match=r"rgb.png: image is 16x16x3 .* 16x16x1"):
        predict.predict(str(version_dir), "score", str(tmp_path / "rgb.png"), tmp_path / "o")
    assert not (tmp_path / "o").exists()
