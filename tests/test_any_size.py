"""Any size: fully convolutional models on any H×W, the tiler (exact, seams blended, bounded
memory), SavedModels of any H×W, and predict on a folder of photos of every kind."""

from __future__ import annotations

import tracemalloc

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import SHAPE, images, run_cli, tiny_model
from PIL import Image

from convae_tf.deploy import predict, signatures, tiles
from convae_tf.deploy.restore import restore_image
from convae_tf.models import anomaly
from convae_tf.utils import bfloat16

CONV = {"bottleneck": "conv", "latent_dim": 4 * 4 * 2}  # a 4×4×2 code map at 16×16
ODD_SIZES = [(16, 16), (17, 23), (5, 9), (40, 33), (1, 1)]


def conv_model(name="dae", **overrides):
    model = tiny_model(name, **{**CONV, **overrides})
    model(images())
    return model


# ------------------------------------------------------------------------------- the model
@pytest.mark.parametrize(
    "overrides",
    [{}, {"skip_connections": True}, {"skip_connections": True, "residual": True}],
    ids=["code", "skip_connections", "residual"],
)
def test_fully_convolutional_model_takes_any_size(overrides):
    model = conv_model(**overrides)
    assert model.fully_convolutional
    for height, width in ODD_SIZES:
        batch = images((height, width, 1), batch=3, seed=height)
        output = np.asarray(model(batch))
        assert output.shape == batch.shape
        # One image alone or in a batch, the same: nothing couples the images.
        np.testing.assert_allclose(np.asarray(model(batch[1:2]))[0], output[1], atol=1e-6)
    # At the training size the any-size path is the training-size network, exactly.
    batch = images(SHAPE, batch=2)
    code, decoder_logits = model._any_size_encode_and_reconstruct(batch)
    logits = model.output_logits(batch, decoder_logits)
    expected_code, expected_logits = model.encode_and_reconstruct(batch)
    np.testing.assert_array_equal(np.asarray(logits), np.asarray(expected_logits))
    np.testing.assert_array_equal(np.asarray(code), np.asarray(expected_code))


@pytest.mark.parametrize("size", [SHAPE, (40, 33, 1)], ids=["training size", "other size"])
def test_residual_dae_adds_its_decoder_output_to_the_input(size, tmp_path):
    """residual=True: the reconstruction is clip(input + the decoder's output), the decoder's
    output being what the same weights give as logits without it; all zeros give the input
    back. It has no decode(code), and the option survives saving."""
    residual = conv_model(skip_connections=True, residual=True)
    plain = conv_model(skip_connections=True)
    plain.set_weights(residual.get_weights())
    batch = images(size, batch=2, seed=3)
    correction = np.asarray(plain.encode_and_reconstruct(batch)[1])
    expected = np.clip(batch + correction, 0, 1)
    np.testing.assert_allclose(np.asarray(residual(batch)), expected, atol=1e-5)
    assert not residual.decodes_codes
    assert signatures.DECODE not in signatures.names(residual)
    residual.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.residual
    np.testing.assert_array_equal(np.asarray(loaded(batch)), np.asarray(residual(batch)))
    logits = residual.decoder.get_layer("logits")
    logits.set_weights([np.zeros_like(w) for w in logits.get_weights()])
    np.testing.assert_allclose(np.asarray(residual(batch)), batch, atol=1e-6)


def test_inpainter_with_a_mask_channel_takes_any_size():
    """The any-size encoder reads the mask channel too (C + 1 channels) and the decoder gives C:
    the user's holes reach it at every size, and the known pixels come back as they were."""
    model = conv_model(gaussian_std=0.0, strokes=1, mask_channel=True, skip_connections=True)
    for height, width in [(40, 33), (16, 16)]:
        batch = images((height, width, 1), batch=2, seed=height)
        masks = (images((height, width, 1), batch=2, seed=width) < 0.3).astype(np.float32)
        filled = np.asarray(model.inpaint(batch, masks))
        assert filled.shape == batch.shape
        np.testing.assert_array_equal(filled[masks == 0], batch[masks == 0])
        # The mask changes what the encoder sees: holes marked, not only zeroed.
        blind = np.asarray(model(batch * (1 - masks)))
        assert not np.allclose(filled[masks == 1], blind[masks == 1])


def test_any_size_code_grows_with_the_image_and_survives_saving(tmp_path):
    model = conv_model("ae")
    batch = images((40, 24, 1), batch=2)
    assert model.encode(batch).shape == (2, 10 * 6 * 2)  # padded 40×24 → 10×6 grid, 2 channels
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(np.asarray(loaded(batch)), np.asarray(model(batch)))
    assert loaded.count_params() == model.count_params()  # the any-size view adds no weights


@pytest.mark.parametrize("name, overrides", [("ae", {}), ("vae", CONV)], ids=["dense", "vae"])
def test_models_tied_to_one_size_refuse_others_naming_the_tiler(name, overrides):
    model = tiny_model(name, **overrides)
    model(images())
    assert not model.fully_convolutional
    with pytest.raises(ValueError, match="16×16 images only.*convae_tf.deploy.restore"):
        model(images((24, 16, 1)))


def test_codes_above_the_limit_keep_no_statistics_and_score_by_reconstruction(tmp_path):
    side = 16  # one block: an 8×8 grid, 17 channels → 1088 values, above 1024
    model = tiny_model("ae", filters=(4,), bottleneck="conv", latent_dim=8 * 8 * 17)
    batch = images((side, side, 1), batch=4)
    model(batch)
    assert model.latent_dim > anomaly.MAX_FITTED_CODE
    assert not model.anomaly_score.has_code_statistics
    assert len(model.anomaly_score.weights) == 2  # scales and fitted only
    model.fit_anomaly_score(batch)
    assert float(model.anomaly_score.fitted) == 0.0
    np.testing.assert_allclose(model.score(batch), model.reconstruction_score(batch), rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.score(batch), model.score(batch), rtol=1e-6)


def test_a_file_saved_with_statistics_of_a_large_code_keeps_its_fitted_score(tmp_path, monkeypatch):
    batch = images((16, 16, 1), batch=8)
    with monkeypatch.context() as patch:
        patch.setattr(anomaly, "MAX_FITTED_CODE", 10_000)
        model = tiny_model("ae", filters=(4,), bottleneck="conv", latent_dim=8 * 8 * 17)
        model(batch)
        model.fit_anomaly_score(batch)
        model.save(tmp_path / "old.keras")
        expected = np.asarray(model.score(batch))
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert loaded.anomaly_score.has_code_statistics
    np.testing.assert_allclose(np.asarray(loaded.score(batch)), expected, rtol=1e-5)


# ------------------------------------------------------------------------------- the tiler
def tiled(fn, image, tile, overlap, align=1, batch=2):
    out = np.full(image.shape[:2] + (None or image.shape[-1],), np.nan, np.float32)
    emitted = []

    def emit(top, rows):
        emitted.append((top, len(rows)))
        out[top : top + len(rows)] = rows

    tiles.run_tiled(fn, image, tile, overlap, emit, align=align, batch=batch)
    # Every row once, top to bottom.
    assert [top for top, _ in emitted] == sorted(top for top, _ in emitted)
    assert sum(n for _, n in emitted) == image.shape[0]
    return out


@pytest.mark.parametrize(
    "shape, tile, overlap, align",
    [
        ((101, 77, 3), (32, 32), (8, 8), 1),
        ((101, 77, 1), (32, 24), (12, 6), 4),
        ((20, 20, 1), (64, 64), (16, 16), 8),
    ],
)
def test_tiles_of_an_identity_give_the_image_back(shape, tile, overlap, align):
    image = np.random.default_rng(0).random(shape, np.float32)
    np.testing.assert_allclose(tiled(lambda t: t, image, tile, overlap, align), image, atol=1e-6)


def test_tiles_match_the_whole_image_run_with_seams_blended():
    """A fully convolutional model on aligned tiles: each tile's output differs from the
    whole-image run only in a band along its cut edges (zero padding there). Blended, a pixel
    is off by at most the largest such error times the weight the window gives the bands over
    it, over the summed weights there: exact far from every cut, damped near one."""
    model = conv_model()
    image = np.random.default_rng(3).random((90, 70, 1), np.float32)
    whole = np.asarray(model(image[None]))[0, ..., 0]
    size, overlap, step = 48, 32, 4
    blended = tiled(lambda t: np.asarray(model(t)), image, (size, size), (overlap, overlap), step)
    rows, columns = tiles.starts(90, size, overlap, step), tiles.starts(70, size, overlap, step)
    window = tiles.window(size)
    weights, band_weights, worst = np.zeros((90, 70)), np.zeros((90, 70)), 0.0
    bands = []
    for top in rows:
        for left in columns:
            alone = np.asarray(model(image[None, top : top + size, left : left + size]))[0, ..., 0]
            height, width = alone.shape
            error = np.abs(alone - whole[top : top + height, left : left + width])
            worst = max(worst, float(error.max()))
            y, x = np.mgrid[:height, :width]
            cuts = [y if top else None, x if left else None]  # edges inside the image
            cuts += [height - 1 - y if top + height < 90 else None]
            cuts += [width - 1 - x if left + width < 70 else None]
            nearest = np.min([c for c in cuts if c is not None], axis=0)
            band = int(nearest[error > 1e-5].max(initial=-1)) + 1
            bands.append(band)
            w = window[:height, None] * window[None, :width]
            weights[top : top + height, left : left + width] += w
            band_weights[top : top + height, left : left + width] += w * (nearest < band)
    assert worst > 0 and 0 < max(bands) < overlap // 2
    bound = worst * band_weights / weights
    error = np.abs(blended[..., 0] - whole)
    assert np.all(error <= bound + 1e-5)
    assert bound.max() < worst / 2 and error.max() < worst / 2  # no seam shows at full error
    assert error[bound == 0].max() < 1e-5 and (bound == 0).sum() > 0.2 * error.size


def peak_memory_of_tiling(height: int) -> tuple[int, list[int]]:
    """(peak bytes that run_tiled allocates on a height×900 RGB photo, tiles per call)."""
    image = np.random.default_rng(0).integers(0, 256, (height, 900, 3), dtype=np.uint8)
    out = np.empty(image.shape, np.uint8)
    seen = []

    def fn(batch):
        seen.append(len(batch))
        return batch

    def emit(top, rows):
        out[top : top + len(rows)] = np.round(rows * 255)

    tracemalloc.start()
    to_float = lambda pixels: pixels / np.float32(255)  # noqa: E731
    tiles.run_tiled(fn, image, (64, 64), (16, 16), emit, batch=3, to_float=to_float)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_array_equal(out, image)
    return peak, seen


def test_tiles_in_flight_and_memory_are_bounded_by_the_tile():
    short, seen = peak_memory_of_tiling(300)
    tall, _ = peak_memory_of_tiling(2400)
    assert max(seen) == 3  # tiles per call, at most `batch`
    assert sum(seen) == len(tiles.starts(300, 64, 16)) * len(tiles.starts(900, 64, 16))
    strip = 64 * 900 * 3 * 4  # one float32 strip, a tile high and the image wide
    assert tall < 1.2 * short and tall < 8 * strip < 2400 * 900 * 3 * 4 / 4


def test_restore_image_runs_a_model_of_one_size_and_a_fully_convolutional_one():
    image = np.random.default_rng(1).random((45, 38, 1), np.float32)
    dense = tiny_model("ae")
    dense(images())
    assert restore_image(dense, image).shape == image.shape
    conv = conv_model()
    whole = restore_image(conv, image)
    np.testing.assert_allclose(whole, np.asarray(conv(image[None]))[0], atol=1e-6)
    with pytest.raises(ValueError, match="smaller than the model's 16×16"):
        restore_image(dense, image[:10])
    assert restore_image(lambda t: 1 - t, image, tile=(16, 16)).shape == image.shape


# -------------------------------------------------------------------- SavedModel and predict
@pytest.fixture(scope="module")
def any_size_saved_model(tmp_path_factory):
    """A fully convolutional dae (gray) as a SavedModel with a card that gives its min size."""
    model = conv_model()
    folder = tmp_path_factory.mktemp("any") / "1"
    signatures.write_saved_model(model, folder)
    (folder / "model_card.json").write_text('{"input": {"min_size": [4, 4]}}')
    return model, folder


def test_saved_model_reconstructs_any_size_and_keeps_the_others_at_the_training_size(
    any_size_saved_model,
):
    model, folder = any_size_saved_model
    runner = predict.SavedModelRunner(folder)
    assert runner.input_spec("serving_default")[1] == (None, None, 1)
    assert runner.input_spec("score")[1] == SHAPE and runner.input_spec("encode")[1] == SHAPE
    for shape in [(16, 16, 1), (37, 21, 1), (64, 48, 1)]:
        batch = images(shape, batch=2)
        served = runner("serving_default", batch)["reconstruction"]
        np.testing.assert_allclose(served, np.asarray(model(batch)), atol=1e-5)


@pytest.mark.skipif(
    not bfloat16.native_bfloat16(),
    reason="TF applies the oneDNN bfloat16 rewrite only on CPUs with native bfloat16",
)
def test_saved_model_in_bfloat16_rounds_like_bfloat16_and_leaves_float32_exact(
    any_size_saved_model,
):
    model, folder = any_size_saved_model
    batch = images((37, 21, 1), batch=2)
    exact = np.asarray(model(batch))
    rounded = predict.SavedModelRunner(folder, in_bfloat16=True)("serving_default", batch)
    # bfloat16 keeps 8 bits of mantissa: the convolutions' inputs and weights round by up to
    # 2^-9 relative, a few such errors through the sigmoid stay well under 8-bit levels.
    difference = np.max(np.abs(rounded["reconstruction"] - exact))
    assert 1e-5 < difference < 2 / 255
    served = predict.SavedModelRunner(folder)("serving_default", batch)["reconstruction"]
    np.testing.assert_allclose(served, exact, atol=1e-5)  # the process-wide option is off again


def test_precision_auto_is_bfloat16_for_photos_on_bfloat16_cpus_only():
    pays_off = bfloat16.native_bfloat16() and not tf.config.list_physical_devices("GPU")
    assert predict.runs_in_bfloat16("auto", photo_task=True) is pays_off
    assert predict.runs_in_bfloat16("auto", photo_task=False) is False  # scores, codes, arrays
    assert predict.runs_in_bfloat16("bfloat16", photo_task=False) is True
    assert predict.runs_in_bfloat16("float32", photo_task=True) is False
    with pytest.raises(predict.InputError, match=r"--precision='half': choose one of auto"):
        predict.runs_in_bfloat16("half", photo_task=True)


def write_photo_folder(folder):
    """Photos of every kind: gray and colour of several sizes, 16-bit, palette, CMYK, an
    EXIF-rotated JPEG; and bad ones: 1×1, a truncated JPEG."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (30, 41), dtype=np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 256, (23, 17, 3), dtype=np.uint8)).save(folder / "colour.png")
    rgba = rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(folder / "alpha.png")
    Image.fromarray(rng.integers(0, 65536, (19, 25), dtype=np.uint16)).save(folder / "deep.png")
    Image.fromarray(rng.integers(0, 256, (18, 22, 3), dtype=np.uint8)).convert("P").save(
        folder / "palette.png"
    )
    Image.fromarray(rng.integers(0, 256, (24, 26, 3), dtype=np.uint8)).convert("CMYK").save(
        folder / "cmyk.jpg"
    )
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    Image.fromarray(rng.integers(0, 256, (20, 36, 3), dtype=np.uint8)).save(
        folder / "rotated.jpg", exif=exif
    )
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(folder / "dot.png")
    whole = folder / "whole.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(whole)
    (folder / "truncated.jpg").write_bytes(whole.read_bytes()[:600])
    whole.unlink()


EXPECTED = {  # file written: (PIL mode, (width, height))
    "gray.png": ("L", (41, 30)),
    "colour.png": ("RGB", (17, 23)),
    "alpha.png": ("RGBA", (20, 20)),
    "deep.png": ("I;16", (25, 19)),
    "palette.png": ("RGB", (22, 18)),
    "cmyk.png": ("RGB", (26, 24)),
    "rotated.png": ("RGB", (20, 36)),  # as a viewer shows it: portrait
}


def check_photos_written(folder, out, messages):
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPECTED)  # no temporary left
    for name, (mode, size) in EXPECTED.items():
        with Image.open(out / name) as image:
            assert (image.mode, image.size) == (mode, size), name
    with Image.open(folder / "alpha.png") as source, Image.open(out / "alpha.png") as written:
        np.testing.assert_array_equal(np.asarray(written)[..., 3], np.asarray(source)[..., 3])
    assert len(messages) == 2
    assert "dot.png: 1x1 pixels is smaller than the model's smallest size, 4x4" in messages[0]
    assert "truncated.jpg: not a readable image" in messages[1]


def test_predict_restores_a_folder_of_photos_of_every_kind(any_size_saved_model, tmp_path):
    _, folder = any_size_saved_model
    write_photo_folder(tmp_path / "photos")
    with pytest.raises(predict.FileErrors) as failure:
        predict.predict(str(folder), "reconstruct", str(tmp_path / "photos"), str(tmp_path / "out"))
    check_photos_written(tmp_path / "photos", tmp_path / "out", failure.value.messages)
    assert sorted(failure.value.written) == sorted(EXPECTED)


def test_a_folder_s_files_that_are_not_png_or_jpeg_are_named_in_a_warning(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.JPG", "c.webp", "notes.txt", ".hidden"):
        (tmp_path / "in" / name).write_bytes(b"")
    (tmp_path / "in" / "sub.tif").mkdir()  # a folder, whatever its name: not a file to restore
    files = predict.photo_files(tmp_path / "in")
    assert [f.name for f in files] == ["a.png", "b.JPG"]
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning: skipped 2 file(s) of ")
    assert "(c.webp, notes.txt); convert them to PNG" in warning and "\n" not in warning
    (tmp_path / "in" / "c.webp").unlink(), (tmp_path / "in" / "notes.txt").unlink()
    predict.photo_files(tmp_path / "in")
    assert capsys.readouterr().err == ""


def test_predict_gray_model_on_colour_runs_each_channel_and_colour_on_gray_averages(
    any_size_saved_model, tmp_path
):
    model, folder = any_size_saved_model
    rgb = np.random.default_rng(2).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(rgb).save(tmp_path / "in" / "c.png")
    predict.predict(
        str(folder), "reconstruct", str(tmp_path / "in"), str(tmp_path / "out"), precision="float32"
    )
    per_channel = np.asarray(model(rgb.transpose(2, 0, 1)[..., None] / np.float32(255)))
    expected = np.round(per_channel[..., 0].transpose(1, 2, 0) * 255)
    np.testing.assert_allclose(np.asarray(Image.open(tmp_path / "out" / "c.png")), expected, atol=1)
    from convae_tf.deploy import photos

    colour_model = lambda batch: batch * np.array([0.2, 0.4, 0.6], np.float32)  # noqa: E731
    gray = photos.adapt(colour_model, 1, 3)(np.ones((1, 2, 2, 1), np.float32))
    np.testing.assert_allclose(gray, np.full((1, 2, 2, 1), 0.4), rtol=1e-6)


def test_predict_gives_each_photo_the_model_of_its_channel_count(any_size_saved_model, tmp_path):
    """--model=A,B: a colour photo goes to the colour model, a gray one to the gray model,
    each exactly as if it had been given alone; two models of one channel count, or several
    models for a task other than reconstruct and inpaint, are refused."""
    gray_model, gray_folder = any_size_saved_model
    colour_model = tiny_model("dae", **CONV, skip_connections=True)
    colour_model(images((16, 16, 3)))
    colour_folder = tmp_path / "colour" / "1"
    signatures.write_saved_model(colour_model, colour_folder)
    rng = np.random.default_rng(5)
    (tmp_path / "in").mkdir()
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "in/c.png")
    Image.fromarray(rng.integers(0, 256, (18, 22), dtype=np.uint8)).save(tmp_path / "in/g.png")
    both = f"{colour_folder},{gray_folder}"
    predict.predict(both, "reconstruct", str(tmp_path / "in"), str(tmp_path / "both"))
    for name, folder in (("c.png", colour_folder), ("g.png", gray_folder)):
        predict.predict(
            str(folder), "reconstruct", str(tmp_path / "in" / name), str(tmp_path / name)
        )
        alone = np.asarray(Image.open(tmp_path / name / name))
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "both" / name)), alone)
    with pytest.raises(predict.InputError, match="two models take 1-channel images"):
        predict.predict(f"{gray_folder},{gray_folder}", "reconstruct", str(tmp_path / "in"), "x")
    with pytest.raises(predict.InputError, match="several models"):
        predict.predict(both, "score", str(tmp_path / "in"), str(tmp_path / "s"))


def test_predict_tiles_large_photos_through_a_model_of_one_size(tmp_path):
    model = tiny_model("ae")
    model(images())
    signatures.write_saved_model(model, tmp_path / "dense")
    pixels = np.random.default_rng(4).integers(0, 256, (50, 70), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(pixels).save(tmp_path / "in" / "big.png")
    predict.predict(
        str(tmp_path / "dense"),
        "reconstruct",
        str(tmp_path / "in"),
        str(tmp_path / "o"),
        precision="float32",
    )
    written = np.asarray(Image.open(tmp_path / "o" / "big.png"))
    expected = restore_image(model, pixels[..., None] / np.float32(255))[..., 0]
    np.testing.assert_allclose(written, np.round(expected * 255), atol=1)
    with pytest.raises(predict.InputError, match=r"20x18x1 but the model expects 16x16x1"):
        Image.fromarray(np.zeros((20, 18), np.uint8)).save(tmp_path / "in" / "big.png")
        predict.predict(
            str(tmp_path / "dense"), "encode", str(tmp_path / "in"), str(tmp_path / "e")
        )


def test_predict_tiles_a_photo_above_the_whole_image_bound_through_an_any_size_model(
    any_size_saved_model, tmp_path, monkeypatch
):
    """Above WHOLE_IMAGE_PIXELS a fully convolutional SavedModel runs tiles (small here), as
    restore_image does with the same bounds."""
    model, folder = any_size_saved_model
    for name, value in (("WHOLE_IMAGE_PIXELS", 600), ("TILE", 16), ("TILE_OVERLAP", 4)):
        monkeypatch.setattr(predict, name, value)
    pixels = np.random.default_rng(6).integers(0, 256, (30, 45), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(pixels).save(tmp_path / "in" / "big.png")
    predict.predict(
        str(folder), "reconstruct", str(tmp_path / "in"), str(tmp_path / "o"), precision="float32"
    )
    written = np.asarray(Image.open(tmp_path / "o" / "big.png"))
    expected = restore_image(model, pixels[..., None] / np.float32(255))[..., 0]
    np.testing.assert_allclose(written, np.round(expected * 255), atol=1)


def test_predict_refuses_a_photo_above_max_megapixels_by_its_header(any_size_saved_model, tmp_path):
    _, folder = any_size_saved_model
    (tmp_path / "in").mkdir()
    Image.fromarray(np.zeros((100, 120), np.uint8)).save(tmp_path / "in" / "p.png")
    with pytest.raises(
        predict.FileErrors,
        match=r"p.png: 120x100 is 0.012 megapixels, above the limit of 0.01; raise it with "
        "--max_megapixels",
    ):
        predict.predict(str(folder), "reconstruct", str(tmp_path / "in"), str(tmp_path / "o"), 0.01)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_predict_cli_on_a_folder_of_photos_names_each_bad_one_and_writes_the_rest(
    any_size_saved_model, tmp_path
):
    _, folder = any_size_saved_model
    write_photo_folder(tmp_path / "photos")
    out = tmp_path / "out"
    result = run_cli(
        "predict", f"--model={folder.parent}", f"--input={tmp_path / 'photos'}", f"--output={out}"
    )
    assert result.returncode == 2, result.stderr[-2000:]
    messages = [line.split(": error: ", 1)[1] for line in result.stderr.splitlines()]
    check_photos_written(tmp_path / "photos", out, messages)
    assert "wrote 7 file(s)" in result.stdout
