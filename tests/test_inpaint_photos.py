"""predict --task=inpaint: photos and the user's masks in, each photo's holes filled through
the model's `inpaint` signature (a SavedModel's, or the TFLite file's of a model trained to fill
holes), its known pixels written exactly as they were; whole or tile by tile; bad masks and
photos without one named, the others still written."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error, images, run_cli, tiny_model
from PIL import Image

from convae_tf.deploy import photos, predict, signatures, tflite, tiles

CONV = {"bottleneck": "conv", "latent_dim": 4 * 4 * 2}  # fully convolutional: any H×W


@pytest.fixture(scope="module")
def any_size_saved_model(tmp_path_factory):
    """A fully convolutional dae (gray) as a SavedModel (its signatures, inpaint among them)
    with a card that gives its min size."""
    model = tiny_model("dae", **CONV)
    model(images())
    folder = tmp_path_factory.mktemp("any") / "1"
    signatures.write_saved_model(model, folder)
    (folder / "model_card.json").write_text('{"input": {"min_size": [4, 4]}}')
    return model, folder


def holes(height, width, seed):
    """bool (H, W): a rectangle and a diagonal stroke missing."""
    missing = np.zeros((height, width), bool)
    missing[height // 4 : height // 2, width // 3 : width // 3 + 5] = True
    rows = np.arange(height)
    missing[rows, (rows * width // height + seed) % width] = True
    return missing


def photo_with_holes(folder, masks, name, shape, mask_mode, seed):
    """Saves a photo (its holes black) and its mask (white where missing, in `mask_mode`);
    returns (pixels, missing)."""
    pixels = np.random.default_rng(seed).integers(20, 256, shape, dtype=np.uint8)
    missing = holes(*shape[:2], seed)
    pixels[missing] = 0
    Image.fromarray(pixels).save(folder / name)
    Image.fromarray(np.where(missing, 255, 0).astype(np.uint8)).convert(mask_mode).save(
        masks / f"{name.rsplit('.', 1)[0]}.png"
    )
    return pixels, missing


def check_filled(written_path, pixels, missing):
    """The PNG at `written_path`: the photo's size and mode, its known pixels bit-exact, its
    holes filled (not the black they were)."""
    with Image.open(written_path) as image:
        written = np.asarray(image)
    assert written.shape == pixels.shape and written.dtype == pixels.dtype
    np.testing.assert_array_equal(written[~missing], pixels[~missing])
    assert (written[missing] > 0).mean() > 0.9  # an untrained model's sigmoid: about 128
    return written


def test_inpaint_fills_the_holes_and_keeps_the_known_pixels_gray_and_colour(
    any_size_saved_model, tmp_path
):
    model, folder = any_size_saved_model
    (tmp_path / "in").mkdir(), (tmp_path / "masks").mkdir()
    gray = photo_with_holes(tmp_path / "in", tmp_path / "masks", "gray.png", (30, 41), "L", 1)
    colour = photo_with_holes(  # a gray model on colour: each channel on its own
        tmp_path / "in", tmp_path / "masks", "colour.png", (23, 17, 3), "1", 2
    )
    written = predict.predict(
        str(folder),
        "inpaint",
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        mask=str(tmp_path / "masks"),
        precision="float32",
    )
    assert sorted(written) == ["colour.png", "gray.png"]
    filled = check_filled(tmp_path / "out" / "gray.png", *gray)
    pixels, missing = gray
    expected = model.inpaint(pixels[None, ..., None] / np.float32(255), missing[None, ..., None])
    np.testing.assert_allclose(filled, np.round(np.asarray(expected)[0, ..., 0] * 255), atol=1)
    pixels, missing = colour
    check_filled(
        tmp_path / "out" / "colour.png", pixels, np.broadcast_to(missing[..., None], pixels.shape)
    )


def test_inpaint_tiles_photo_and_mask_together_through_a_model_of_one_size(tmp_path):
    model = tiny_model("ae")
    model(images())
    signatures.write_saved_model(model, tmp_path / "dense")
    (tmp_path / "in").mkdir(), (tmp_path / "masks").mkdir()
    pixels, missing = photo_with_holes(
        tmp_path / "in", tmp_path / "masks", "big.png", (50, 70), "RGB", 3
    )
    predict.predict(
        str(tmp_path / "dense"),
        "inpaint",
        str(tmp_path / "in" / "big.png"),  # single files: the photo and its mask
        str(tmp_path / "out"),
        mask=str(tmp_path / "masks" / "big.png"),
        precision="float32",
    )
    written = check_filled(tmp_path / "out" / "big.png", pixels, missing)
    expected = tiled_inpaint(model, pixels, missing)
    np.testing.assert_allclose(written[missing], np.round(expected[missing] * 255), atol=1)


def tiled_inpaint(model, pixels, missing):
    """The model's own inpaint of a gray photo (uint8 (H, W)) in 16×16 tiles overlapping by 4,
    blended as predict blends them: (H, W) floats."""
    expected = np.empty((*pixels.shape, 1), np.float32)

    def emit(top, rows):
        expected[top : top + len(rows)] = rows

    tiles.run_tiled(
        lambda batch, masks: np.asarray(model.inpaint(batch, masks)),
        pixels[..., None] / np.float32(255),
        (16, 16),
        (4, 4),
        emit,
        mask=missing[..., None],
    )
    return expected[..., 0]


def tflite_file(model, folder):
    """`model`'s float32 TFLite file (batch 1, its signatures: tflite_names) in `folder`."""
    signatures.write_saved_model(model, folder / "batch1", batch_size=1)
    flatbuffer = tflite.convert(folder / "batch1", signatures.tflite_names(model), "float32")
    (folder / "model.tflite").write_bytes(flatbuffer)
    return folder / "model.tflite"


def inpainted_through_tflite(tmp_path, shape, card=None, **model_args):
    """A tiny gray inpainter (trained on strokes, `model_args`), its TFLite file (and `card`
    beside it), and predict --task=inpaint of a photo of `shape` with holes through that file:
    (model, file, pixels, missing, written pixels)."""
    inpainter = tiny_model("dae", strokes=1, mask_channel=True, **model_args)
    inpainter(images())
    model_file = tflite_file(inpainter, tmp_path)
    if card is not None:
        (tmp_path / "model_card.json").write_text(card)
    (tmp_path / "in").mkdir(), (tmp_path / "masks").mkdir()
    pixels, missing = photo_with_holes(tmp_path / "in", tmp_path / "masks", "p.png", shape, "L", 4)
    predict.predict(
        str(model_file),
        "inpaint",
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        mask=str(tmp_path / "masks"),
    )
    written = check_filled(tmp_path / "out" / "p.png", pixels, missing)
    return inpainter, model_file, pixels, missing, written


def test_a_tflite_file_inpaints_tile_by_tile_and_one_without_the_signature_is_refused(tmp_path):
    """A model trained on holes: its TFLite file has `inpaint` (images and masks of its size),
    which predict runs on a larger photo tile by tile, as the model's own inpaint does. A model
    never trained on holes: no inpaint signature, refused in one line before any photo."""
    inpainter, model_file, pixels, missing, written = inpainted_through_tflite(tmp_path, (40, 37))
    assert predict.TFLiteRunner(model_file).input_specs(signatures.INPAINT) == {
        signatures.IMAGES: (16, 16, 1),
        signatures.MASKS: (16, 16, 1),
    }
    expected = tiled_inpaint(inpainter, pixels, missing)
    np.testing.assert_allclose(written[missing], np.round(expected[missing] * 255), atol=1)

    plain = tiny_model("dae", gaussian_std=0.1)
    plain(images())
    (tmp_path / "plain").mkdir()
    with pytest.raises(predict.InputError, match="has no inpaint signature .* SavedModel folder"):
        predict.predict(
            str(tflite_file(plain, tmp_path / "plain")),
            "inpaint",
            str(tmp_path / "in"),
            str(tmp_path / "out-plain"),
            mask=str(tmp_path / "masks"),
        )
    assert not (tmp_path / "out-plain").exists()


def test_a_tflite_file_of_any_size_network_takes_a_photo_smaller_than_its_size(tmp_path):
    """A fully convolutional network (the card says any_size) in a 16×16 TFLite file: a 9×11
    photo is mirrored out to 16×16 with its mask, inpainted, cropped back; below the card's
    min_size it is refused."""
    card = '{"input": {"any_size": true, "min_size": [4, 4]}}'
    inpainter, model_file, pixels, missing, written = inpainted_through_tflite(
        tmp_path, (9, 11), card, **CONV
    )
    mirrored = np.pad(pixels, [(0, 7), (0, 5)], mode="symmetric")[None, ..., None] / np.float32(255)
    holes = np.pad(missing, [(0, 7), (0, 5)], mode="symmetric")[None, ..., None]
    expected = np.asarray(inpainter.inpaint(mirrored, holes.astype(np.float32)))[0, :9, :11, 0]
    np.testing.assert_allclose(written[missing], np.round(expected[missing] * 255), atol=1)
    for folder in ("in", "masks"):
        Image.fromarray(np.zeros((3, 20), np.uint8)).save(tmp_path / folder / "p.png")
    with pytest.raises(predict.FileErrors, match="smaller than the model's smallest size, 4x4"):
        predict.predict(
            str(model_file),
            "inpaint",
            str(tmp_path / "in"),
            str(tmp_path / "out2"),
            mask=str(tmp_path / "masks"),
        )


def test_a_colour_model_inpaints_a_gray_photo_with_its_mask_replicated():
    seen = []

    def colour_inpaint(batch, masks):
        seen.append((batch.shape, masks.shape))
        return batch * (1 - masks) + masks * np.array([0.2, 0.4, 0.6], np.float32)

    gray = np.full((1, 2, 3, 1), 0.9, np.float32)
    mask = np.zeros((1, 2, 3, 1), np.float32)
    mask[0, 1, 2] = 1
    out = photos.adapt(colour_inpaint, 1, 3)(gray, mask)
    assert seen == [((1, 2, 3, 3), (1, 2, 3, 1))]
    assert out[0, 1, 2, 0] == pytest.approx(0.4) and out[0, 0, 0, 0] == pytest.approx(0.9)


def test_bad_masks_and_photos_without_one_are_named_and_the_others_written(
    any_size_saved_model, tmp_path
):
    _, folder = any_size_saved_model
    photos_in, masks = tmp_path / "in", tmp_path / "masks"
    photos_in.mkdir(), masks.mkdir()
    good = photo_with_holes(photos_in, masks, "good.png", (20, 24), "L", 4)
    photo_with_holes(photos_in, masks, "wrong.png", (20, 24), "L", 5)
    Image.fromarray(np.zeros((21, 24), np.uint8)).save(masks / "wrong.png")  # 24x21, not 24x20
    photo_with_holes(photos_in, masks, "garbage.png", (20, 24), "L", 6)
    (masks / "garbage.png").write_bytes(b"not an image at all")
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(photos_in / "alone.png")
    with pytest.raises(predict.FileErrors) as failure:
        predict.predict(
            str(folder), "inpaint", str(photos_in), str(tmp_path / "out"), mask=str(masks)
        )
    assert sorted(failure.value.written) == ["good.png"]
    check_filled(tmp_path / "out" / "good.png", *good)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png"]  # nothing half
    alone, garbage, wrong = failure.value.messages
    assert f"{photos_in / 'alone.png'}: no mask for it in {masks}" in alone
    assert f"{masks / 'garbage.png'}: the mask is not a readable image" in garbage
    assert (
        f"{masks / 'wrong.png'}: the mask is 24x21 but its photo {photos_in / 'wrong.png'} is 24x20"
        in wrong
    )


@pytest.mark.parametrize(
    "model, task, mask, message",
    [
        ("m/1", "inpaint", None, "--task=inpaint needs --mask"),
        (
            "m/1",
            "reconstruct",
            "masks",
            "--mask is for --task=inpaint only, not --task=reconstruct",
        ),
    ],
    ids=["mask_missing", "mask_for_reconstruct"],
)
def test_mask_flag_refused_before_anything_runs(tmp_path, model, task, mask, message):
    with pytest.raises(predict.InputError, match=message):
        predict.predict(
            str(tmp_path / model), task, str(tmp_path), str(tmp_path / "out"), mask=mask
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_predict_cli_inpaints_a_folder_and_names_a_photo_without_a_mask(
    any_size_saved_model, tmp_path
):
    _, folder = any_size_saved_model
    photos_in, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    photos_in.mkdir(), masks.mkdir()
    good = photo_with_holes(photos_in, masks, "a.png", (26, 31, 3), "L", 7)
    Image.fromarray(np.zeros((20, 24), np.uint8)).save(photos_in / "b.png")
    result = run_cli(
        "predict",
        f"--model={folder.parent}",
        "--task=inpaint",
        f"--input={photos_in}",
        f"--mask={masks}",
        f"--output={out}",
    )
    assert_one_line_error(result, f"{photos_in / 'b.png'}: no mask for it in {masks}")
    assert "wrote 1 file(s)" in result.stdout
    check_filled(out / "a.png", *good[:1], np.broadcast_to(good[1][..., None], good[0].shape))
