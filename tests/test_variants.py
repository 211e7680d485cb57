"""The dae, sparse and vae variants: their loss maths by hand, their corruptions, and the
behaviour that makes each of them what it is. Tiny shapes, so the file runs in seconds."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import SHAPE, TINY, blob_images, images, tiny_model
from scipy import ndimage, special, stats

import convae_tf
from convae_tf.evaluation import likelihood
from convae_tf.models import corruptions, hole_fill, losses, vae


# ---------------------------------------------------------------------------- loss maths
def test_gaussian_kl_by_hand():
    mean = np.array([[0.0, 0.0], [1.0, -2.0]], np.float32)
    log_var = np.array([[0.0, 0.0], [math.log(2.0), -math.log(4.0)]], np.float32)
    # KL = 0.5 Σ (σ² + μ² − 1 − log σ²): 0 at the prior; for the second row
    # 0.5 · [(2 + 1 − 1 − ln 2) + (1/4 + 4 − 1 + ln 4)] = 2.971574
    second = 0.5 * ((2 + 1 - 1 - math.log(2)) + (0.25 + 4 - 1 + math.log(4)))
    assert second == pytest.approx(2.971574, abs=1e-6)
    np.testing.assert_allclose(losses.gaussian_kl(mean, log_var), [0.0, second], rtol=1e-6)


def test_kl_sparsity_by_hand():
    rho_hat = np.array([0.5, 0.05, 0.2], np.float32)

    def kl(r, q):
        return r * math.log(r / q) + (1 - r) * math.log((1 - r) / (1 - q))

    by_hand = kl(0.05, 0.5) + 0.0 + kl(0.05, 0.2)  # 0.494632 + 0 + 0.093943
    assert by_hand == pytest.approx(0.588575, abs=1e-6)
    np.testing.assert_allclose(losses.kl_sparsity(0.05, rho_hat), by_hand, rtol=1e-5)
    # A saturated unit (ρ̂ = 0 or 1) gives a large but finite penalty, not inf/NaN.
    saturated = np.asarray(losses.kl_sparsity(0.05, np.array([0.0, 1.0], np.float32)))
    assert np.isfinite(saturated) and saturated > 10


def test_l1_activity_by_hand():
    code = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(losses.l1_activity(code), [3.5, 0.0])


def test_gaussian_nll_by_hand():
    x = np.array([0.5, 1.0], np.float32).reshape(1, 1, 2, 1)
    mean = np.array([0.3, 0.5], np.float32).reshape(1, 1, 2, 1)
    # σ = 0.5: 0.5·(0.2/0.5)² + 0.5·(0.5/0.5)² + 2·(ln 0.5 + 0.5 ln 2π) = 0.08 + 0.5 + 0.451583
    by_hand = 0.08 + 0.5 + 2 * (math.log(0.5) + 0.5 * math.log(2 * math.pi))
    assert by_hand == pytest.approx(1.031583, abs=1e-6)
    np.testing.assert_allclose(losses.gaussian_nll(x, mean, math.log(0.5)), [by_hand], rtol=1e-6)


# ----------------------------------------------------------------------------- corruptions
def big_batch(value=0.5, shape=(4, 64, 64, 3)):
    return np.full(shape, value, np.float32)


def test_gaussian_noise_has_the_requested_std_and_stays_in_range():
    x = big_batch()
    noisy = np.asarray(corruptions.gaussian_noise(x, seed=1, std=0.1))
    assert abs((noisy - x).std() - 0.1) < 0.005  # 0.5 ± 5σ: clipping is negligible here
    assert abs((noisy - x).mean()) < 0.005
    # Channels get independent noise.
    assert not np.allclose(noisy[..., 0], noisy[..., 1])
    extreme = np.asarray(corruptions.gaussian_noise(images(batch=8), seed=2, std=1.0))
    assert extreme.min() == 0.0 and extreme.max() == 1.0  # clipped, and clipping happened


def test_salt_and_pepper_changes_a_fraction_p_of_pixels_to_0_or_1():
    x = big_batch()
    noisy = np.asarray(corruptions.salt_and_pepper(x, seed=3, p=0.1))
    changed = noisy != 0.5
    assert abs(changed[..., 0].mean() - 0.1) < 0.01
    assert set(np.unique(noisy[changed])) == {0.0, 1.0}
    assert abs((noisy[changed] == 1.0).mean() - 0.5) < 0.05
    # A pixel changes in all its channels at once, to one value.
    assert (changed == changed[..., :1]).all()
    assert (noisy == noisy[..., :1]).all()


def test_masking_noise_drops_a_fraction_p_of_pixels_and_keeps_the_rest():
    x = images((64, 64, 3), batch=4, seed=1) * 0.9 + 0.05  # no zeros to begin with
    masked = np.asarray(corruptions.masking_noise(x, seed=4, p=0.3))
    dropped = masked == 0.0
    assert abs(dropped[..., 0].mean() - 0.3) < 0.01
    assert (dropped == dropped[..., :1]).all()
    np.testing.assert_array_equal(masked[~dropped], x[~dropped])


def test_rectangles_are_filled_rectangles_within_the_size_bounds():
    h, w = 32, 48  # not square: catches a swap of height and width
    x = np.ones((64, h, w, 1), np.float32)
    holes = np.asarray(corruptions.random_rectangles(x, 5, count=1, min_size=0.25, max_size=0.5))
    heights, widths = [], []
    for hole in holes[..., 0] == 0.0:
        rows, cols = np.nonzero(hole)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert hole.sum() == height * width  # a filled axis-aligned rectangle
        heights.append(height)
        widths.append(width)
    assert min(heights) >= 8 and max(heights) <= 16  # 0.25·32 .. 0.5·32
    assert min(widths) >= 12 and max(widths) <= 24  # 0.25·48 .. 0.5·48
    assert len(set(heights)) > 3 and len(set(widths)) > 3  # sizes and positions vary
    several = np.asarray(corruptions.random_rectangles(x, 6, count=3, min_size=0.1, max_size=0.2))
    assert ((several == 0).mean(axis=(1, 2, 3)) <= 3 * 0.2 * 0.2 + 1e-6).all()
    assert ((several == 0).mean(axis=(1, 2, 3)) > 0).all()


def test_corruptions_are_seeded_and_work_on_one_image():
    x = images((16, 16, 3), batch=3)
    options = {"gaussian_std": 0.2, "salt_pepper": 0.1, "masking": 0.1, "rectangles": 1}
    a = np.asarray(corruptions.corrupt(x, 7, **options))
    np.testing.assert_array_equal(a, corruptions.corrupt(x, 7, **options))
    assert not np.array_equal(a, corruptions.corrupt(x, 8, **options))
    assert a.min() >= 0.0 and a.max() <= 1.0
    single = corruptions.corrupt(x[0], tf.constant([7, 1]), **options)
    assert tuple(single.shape) == x.shape[1:]
    np.testing.assert_array_equal(corruptions.corrupt(x, 9), x)  # every strength 0: clean


def test_corruptions_work_inside_tf_data_map():
    x = images((16, 16, 1), batch=4)
    options = {"gaussian_std": 0.2, "masking": 0.2, "rectangles": 1}
    ds = tf.data.Dataset.from_tensor_slices(x).enumerate()
    ds = ds.map(
        lambda i, image: corruptions.corrupt(
            image, tf.stack([tf.constant(11, tf.int64), i]), **options
        )
    )
    mapped = np.stack(list(ds.as_numpy_iterator()))
    assert mapped.shape == x.shape and mapped.min() >= 0.0 and mapped.max() <= 1.0
    assert not np.array_equal(mapped[0], mapped[1])
    # Same seed, same result eagerly and in the graph.
    np.testing.assert_array_equal(mapped[2], corruptions.corrupt(x[2], [11, 2], **options))


@pytest.mark.parametrize(
    "call",
    [
        lambda x: corruptions.salt_and_pepper(x, 0, p=1.5),
        lambda x: corruptions.gaussian_noise(x, 0, std=-0.1),
        lambda x: corruptions.random_rectangles(x, 0, count=1, min_size=0.5, max_size=0.2),
        lambda x: corruptions.masking_noise(x[0, ..., 0], 0, p=0.1),  # a 2-D array
    ],
)
def test_corruptions_reject_bad_arguments(call):
    with pytest.raises(ValueError):
        call(images())


def test_strokes_have_the_asked_width_in_coverage_terms():
    """The walks depend on the seed, not the width: with one seed, a wider brush covers a
    superset of a narrower one's pixels, a width range lies between its bounds, and doubling
    the width about doubles the area; each stroke is at least its width thick."""
    x = np.ones((64, 48, 64, 1), np.float32)  # not square: the width is of the shorter side

    def mask(width):
        return np.asarray(corruptions.stroke_mask(x, 3, 1, *width))[..., 0] > 0

    narrow, between, wide = mask((0.05, 0.05)), mask((0.05, 0.1)), mask((0.1, 0.1))
    assert (narrow <= between).all() and (between <= wide).all()
    assert (narrow < between).any() and (between < wide).any()
    ratio = wide.mean(axis=(1, 2)) / narrow.mean(axis=(1, 2))
    # About, not exactly: a brush a few pixels wide covers whole pixels (and folds overlap).
    assert ratio.min() > 1.2 and ratio.max() < 2.6 and 1.6 < np.median(ratio) < 2.1
    radius = 0.1 * 48 / 2
    assert min(ndimage.distance_transform_edt(hole).max() for hole in wide) >= radius


def test_strokes_are_as_many_brush_strokes_as_asked():
    x = np.ones((64, 48, 64, 1), np.float32)
    one = np.asarray(corruptions.stroke_mask(x, 4, 1, 0.05, 0.05))[..., 0] > 0
    four = np.asarray(corruptions.stroke_mask(x, 5, 4, 0.05, 0.05))[..., 0] > 0
    assert [ndimage.label(hole)[1] for hole in one] == [1] * len(x)  # one connected stroke
    assert max(ndimage.label(hole)[1] for hole in four) <= 4
    # Four strokes cover about four times one's area (less where they overlap; each draws its
    # own length and turns, so the ratio of the means strays a little either side).
    assert 2.5 < four.mean() / one.mean() < 4.6
    assert 0.02 < one.mean() < 0.1 and (one.mean(axis=(1, 2)) > 0).all()
    # random_strokes sets exactly those pixels to 0, in every channel, and keeps the others.
    colour = images((48, 64, 3), batch=4) * 0.9 + 0.05
    holed = np.asarray(corruptions.random_strokes(colour, 4, 1, 0.05, 0.05))
    np.testing.assert_array_equal(holed == 0, np.broadcast_to(one[:4, ..., None], holed.shape))
    np.testing.assert_array_equal(holed[~one[:4]], colour[~one[:4]])


def test_strokes_are_seeded_and_work_in_tf_data_at_odd_sizes():
    x = images((17, 23, 3), batch=6)  # odd sizes
    options = {"strokes": 2, "stroke_width": (0.1, 0.2), "rectangles": 1}
    ds = tf.data.Dataset.from_tensor_slices(x).enumerate()
    ds = ds.map(  # graph mode, one image per element, each its own seed
        lambda i, image: corruptions.corrupt_with_mask(
            image, tf.stack([tf.constant(11, tf.int64), i]), **options
        )
    )
    mapped = list(ds.as_numpy_iterator())
    for i, (holed, missing) in enumerate(mapped):
        assert holed.shape == x.shape[1:] and missing.shape == (17, 23, 1)
        eager = corruptions.corrupt_with_mask(x[i], [11, i], **options)
        np.testing.assert_array_equal(holed, eager[0])
        np.testing.assert_array_equal(missing, eager[1])
        np.testing.assert_array_equal(holed == 0, np.broadcast_to(missing > 0, holed.shape))
    masks = [missing for _, missing in mapped]
    assert all(m.any() and not m.all() for m in masks)
    assert len({m.tobytes() for m in masks}) == len(masks)  # each seed its own strokes
    # The union of both holes: the strokes' own pixels are among them.
    strokes_only = corruptions.corrupt_with_mask(x[0], [11, 0], strokes=2, stroke_width=(0.1, 0.2))
    assert (np.asarray(strokes_only[1]) <= masks[0]).all()


def test_adding_strokes_leaves_the_other_corruptions_unchanged():
    x = images((16, 16, 3), batch=3)
    options = {"gaussian_std": 0.2, "salt_pepper": 0.1, "masking": 0.1, "rectangles": 1}
    before = np.asarray(corruptions.corrupt(x, 7, **options))
    after, missing = corruptions.corrupt_with_mask(x, 7, strokes=1, **options)
    kept = np.broadcast_to(np.asarray(missing) == 0, x.shape)
    np.testing.assert_array_equal(np.asarray(after)[kept], before[kept])
    holes = corruptions.corrupt_with_mask(x, 7, **options)[1]
    assert (np.asarray(holes) <= np.asarray(missing)).all()
    assert (before[np.broadcast_to(np.asarray(holes) > 0, x.shape)] == 0).all()


# ------------------------------------------------------------------------------------ dae
def test_dae_trains_on_corrupted_inputs_against_clean_targets(monkeypatch):
    model = tiny_model("dae", gaussian_std=0.25)
    x = np.full((2, *SHAPE), 0.5, np.float32)
    model(x)
    seen = []
    encode = model.encode

    def spy(inputs, training=False):
        seen.append(np.asarray(inputs))
        return encode(inputs, training=training)

    monkeypatch.setattr(model, "encode", spy)
    terms = model.loss_terms(x, training=True)
    corrupted = seen[-1]
    assert 0.15 < (corrupted - x).std() < 0.3 and corrupted.min() >= 0 and corrupted.max() <= 1
    # The reconstruction of the corrupted input is scored against the clean image.
    logits = model.decode_logits(encode(corrupted))
    expected = np.mean(model.reconstruction_error(x, logits))
    np.testing.assert_allclose(terms["reconstruction"], expected, rtol=1e-5)
    # Inference sees the clean input.
    model.loss_terms(x, training=False)
    np.testing.assert_array_equal(seen[-1], x)
    model(x, training=False)
    np.testing.assert_array_equal(seen[-1], x)


def test_dae_draws_new_noise_each_step_but_inference_is_clean():
    model = tiny_model("dae", salt_pepper=0.1, masking=0.1, rectangles=1)
    x = images()
    first = float(model.loss_terms(x, training=True)["loss"])
    assert first != float(model.loss_terms(x, training=True)["loss"])
    clean = float(model.loss_terms(x, training=False)["loss"])
    assert clean == float(model.loss_terms(x, training=False)["loss"])
    np.testing.assert_array_equal(model(x), model.decode(model.encode(x)))
    # fit advances the model's own seed generator: every step draws new noise.
    state = np.asarray(model.seed_generator.state).copy()
    model.fit(images(batch=4), batch_size=2, epochs=1, verbose=0)
    assert not np.array_equal(state, model.seed_generator.state)


def test_dae_validates_on_the_same_corrupted_images_every_epoch(monkeypatch):
    """val_loss scores denoising: evaluate corrupts each batch with noise fixed by its content
    (the same loss on every call, unlike training's fresh noise), not the clean images."""
    model = tiny_model("dae", gaussian_std=0.4)
    x = images(batch=4)
    model.fit(x, batch_size=2, epochs=1, verbose=0)

    def val_loss():
        return model.evaluate(x, batch_size=2, verbose=0, return_dict=True)["loss"]

    first = val_loss()
    assert first == val_loss()
    batches = [model.fixed_corrupt(x[i : i + 2]) for i in (0, 2)]
    expected = np.mean(
        [
            model.loss_terms(x[i : i + 2], inputs=b)["loss"]
            for i, b in zip((0, 2), batches, strict=True)
        ]
    )
    assert first == pytest.approx(expected, rel=1e-5)
    # What the encoder sees in a validation step: the fixed corruption, not the clean batch.
    seen, encode = [], model.encode
    monkeypatch.setattr(
        model,
        "encode",
        lambda inputs, training=False: (
            seen.append(np.asarray(inputs)) or encode(inputs, training=training)
        ),
    )
    model.test_step(x[:2])
    np.testing.assert_array_equal(seen[-1], batches[0])
    # The noise is that of training: same strength, values kept in [0, 1]; other images get
    # other noise (uncorrelated with the first, not the same draw clipped differently).
    corrupted = np.asarray(model.fixed_corrupt(x))
    assert 0.2 < (corrupted - x).std() < 0.45 and 0 <= corrupted.min() <= corrupted.max() <= 1
    np.testing.assert_array_equal(corrupted, model.fixed_corrupt(x))
    gray = np.full((4, *SHAPE), 0.5, np.float32)
    noise = [np.asarray(model.fixed_corrupt(g)) - g for g in (gray, gray + 0.01)]
    assert abs(np.corrcoef(noise[0].ravel(), noise[1].ravel())[0, 1]) < 0.3


def test_dae_noise_is_reproducible_under_set_random_seed():
    x = images()

    def noise_of_a_new_model():
        keras.utils.set_random_seed(123)
        model = convae_tf.get_model("dae", **TINY)
        return [np.asarray(model.corrupt(x, training=True)) for _ in range(2)]

    a, b = noise_of_a_new_model(), noise_of_a_new_model()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])


def test_blind_noise_draws_sigma_per_image_within_the_range():
    x = np.full((64, 32, 32, 1), 0.5, np.float32)
    low, high = 0.05, 0.2
    noisy = np.asarray(corruptions.gaussian_noise(x, 7, (low, high)))
    sigmas = (noisy - x).std(axis=(1, 2, 3))
    assert low - 0.01 < sigmas.min() and sigmas.max() < high + 0.01
    assert sigmas.max() - sigmas.min() > 0.1  # spread over the range, not one level
    np.testing.assert_array_equal(noisy, corruptions.gaussian_noise(x, 7, (low, high)))
    assert not np.array_equal(noisy, corruptions.gaussian_noise(x, 8, (low, high)))
    # A range of one value is that value: the same noise as the number.
    np.testing.assert_array_equal(
        corruptions.gaussian_noise(x, 7, (0.1, 0.1)), corruptions.gaussian_noise(x, 7, 0.1)
    )


def test_a_single_gaussian_std_keeps_the_noise_it_always_had():
    x = images((16, 16, 3), batch=3)
    normal = tf.random.stateless_normal(x.shape, tf.constant([7, 0], tf.int64))
    expected = np.clip(x + 0.2 * np.asarray(normal), 0.0, 1.0)
    np.testing.assert_allclose(corruptions.gaussian_noise(x, 7, 0.2), expected, atol=1e-7)
    model = tiny_model("dae", gaussian_std=0.2)
    assert model.gaussian_std == 0.2 and isinstance(model.get_config()["gaussian_std"], float)


def test_dae_blind_noise_is_fixed_per_image_in_validation():
    model = tiny_model("dae", gaussian_std=(0.0, 0.3))
    assert model.gaussian_std == (0.0, 0.3)
    x = np.full((16, *SHAPE), 0.5, np.float32)
    noisy = np.asarray(model.fixed_corrupt(x))
    np.testing.assert_array_equal(noisy, model.fixed_corrupt(x))  # every epoch the same
    sigmas = (noisy - x).std(axis=(1, 2, 3))
    assert sigmas.max() < 0.32 and sigmas.max() - sigmas.min() > 0.1
    trained = np.asarray(model.corrupt(x, training=True)) - x
    assert trained.std(axis=(1, 2, 3)).max() - trained.std(axis=(1, 2, 3)).min() > 0.1
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    loss = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)["loss"]
    assert loss == model.evaluate(x, batch_size=8, verbose=0, return_dict=True)["loss"]


def test_a_gaussian_std_range_parses_from_the_command_line():
    from convae_tf.cli.configs import _KeyValueParser

    key, value = _KeyValueParser().parse("gaussian_std=0,0.196")
    model = convae_tf.get_model("dae", **{key: value})
    assert model.gaussian_std == (0.0, 0.196)
    assert convae_tf.get_model("dae", gaussian_std=[0, 0.1]).gaussian_std == (0.0, 0.1)


@pytest.mark.parametrize(
    "bad, word",
    [
        ({"gaussian_std": -1.0}, "gaussian_std"),
        ({"gaussian_std": (0.3, 0.1)}, "gaussian_std"),
        ({"gaussian_std": (-0.1, 0.1)}, "gaussian_std"),
        ({"gaussian_std": (0.1,)}, "gaussian_std"),
        ({"gaussian_std": "loud"}, "gaussian_std"),
        ({"salt_pepper": 1.5}, "salt_pepper"),
        ({"masking": -0.1}, "masking"),
        ({"rectangle_size": (0.5, 0.2)}, "rectangle_size"),
        ({"rectangle_size": (0.5,)}, "rectangle_size"),
        ({"skip_connections": "yes"}, "skip_connections"),
        ({"strokes": -1}, "strokes"),
        ({"stroke_width": (0.3, 0.1)}, "stroke_width"),
        ({"stroke_width": (0.1,)}, "stroke_width"),
        ({"mask_channel": True}, "mask_channel"),  # no holes to show
        ({"mask_channel": "yes", "strokes": 1}, "mask_channel"),
        ({"prefill_holes": True}, "prefill_holes"),  # no holes to fill
        ({"prefill_holes": 1, "strokes": 1}, "prefill_holes"),
        ({"hole_weight": -1.0, "strokes": 1, "mask_channel": True}, "hole_weight"),
        ({"hole_weight": 6.0, "strokes": 1}, "hole_weight"),  # no mask channel to read
        ({"noise_balance": -0.1}, "noise_balance"),
        ({"noise_balance": 0.1, "strokes": 1}, "noise_balance"),  # holes are not noise
    ],
)
def test_dae_bad_arguments_are_named(bad, word):
    with pytest.raises(ValueError, match=word):
        convae_tf.get_model("dae", **bad)


@pytest.mark.parametrize(
    "pooling, maps",
    [("max", [(20, 24, 4), (10, 12, 8)]), ("stride", [(20, 24, 1), (10, 12, 4)])],
)
def test_dae_skip_connections_give_the_decoder_each_blocks_map(pooling, maps, tmp_path):
    """skip_connections=True: the decoder takes, besides the code, the full-resolution map of
    each encoder block (with stride pooling a block has none of its own: its input, the image
    for block 0), so the reconstruction depends on more than the code; odd sizes (17×23,
    padded to 20×24) come back exactly; `.keras` round trips."""
    model = tiny_model("dae", skip_connections=True, pooling=pooling)
    x, other = images((17, 23, 1), batch=4), images((17, 23, 1), batch=4, seed=1)
    assert np.isfinite(model.fit(x, batch_size=2, epochs=2, verbose=0).history["loss"]).all()
    assert tuple(model(x).shape) == x.shape
    assert [tuple(t.shape[1:]) for t in model.decoder.inputs[1:]] == maps
    code, own_maps = model.code(x), model.skip_encoder(x)[1:]
    np.testing.assert_allclose(
        np.asarray(keras.ops.sigmoid(model.decoder([code, *own_maps]))), model(x), atol=1e-6
    )
    # The same code with another image's maps: another reconstruction.
    swapped = keras.ops.sigmoid(model.decoder([code, *model.skip_encoder(other)[1:]]))
    assert np.abs(np.asarray(swapped) - np.asarray(model(x))).max() > 1e-3
    # Everything that reads the code or scores images works; decode(code) alone cannot.
    assert not model.decodes_codes
    assert tuple(model.code(x).shape) == (4, TINY["latent_dim"])
    model.fit_anomaly_score(x)
    assert np.isfinite(model.score(x)).all()
    with pytest.raises(ValueError, match="skip_connections=True has no decode"):
        model.decode(code)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.get_config()["skip_connections"] is True
    np.testing.assert_array_equal(reloaded(x), model(x))
    np.testing.assert_array_equal(reloaded.score(x), model.score(x))


def test_skip_connections_are_the_denoisers_only():
    # A clean input would be copied through them: the other variants do not take the argument.
    for name in ("ae", "sparse", "vae", "stacked"):
        with pytest.raises((TypeError, ValueError), match="skip_connections"):
            convae_tf.get_model(name, skip_connections=True)


# --------------------------------------------------------------------------------- sparse
def mean_activation_after_training(penalty, weight):
    keras.utils.set_random_seed(0)
    model = convae_tf.get_model(
        "sparse", penalty=penalty, sparsity_weight=weight, **{**TINY, "latent_dim": 8}
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = images(batch=16, seed=3)
    history = model.fit(np.tile(x, (10, 1, 1, 1)), batch_size=8, epochs=1, verbose=0)
    return float(np.mean(model.encode(x))), history.history


@pytest.mark.parametrize("penalty", ["kl", "l1"])
def test_sparsity_penalty_lowers_the_mean_activation(penalty):
    free, _ = mean_activation_after_training(penalty, 0.0)
    sparse, history = mean_activation_after_training(penalty, None)  # the default weight
    assert sparse < 0.5 * free
    assert {"sparsity", "mean_activation", "near_zero_fraction"} <= set(history)


@pytest.mark.parametrize("penalty", ["kl", "l1"])
def test_sparse_terms_match_their_definitions(penalty):
    model = tiny_model("sparse", penalty=penalty, sparsity_weight=0.3, latent_dim=6)
    x = images(batch=4)
    code = np.asarray(model.encode(x))
    if penalty == "kl":  # sigmoid code
        assert code.min() > 0 and code.max() < 1
        sparsity = np.asarray(losses.kl_sparsity(0.05, code.mean(axis=0)))
    else:  # ReLU code
        assert code.min() == 0.0
        sparsity = np.abs(code).sum(axis=1).mean()
    terms = model.loss_terms(x, training=False)
    np.testing.assert_allclose(terms["sparsity"], sparsity, rtol=1e-5)
    np.testing.assert_allclose(terms["loss"], terms["reconstruction"] + 0.3 * sparsity, rtol=1e-5)
    np.testing.assert_allclose(terms["mean_activation"], code.mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["near_zero_fraction"], (code < 0.01).mean(), rtol=1e-6)


def test_sparse_bad_arguments_are_named():
    for bad, word in [
        ({"penalty": "l2"}, "penalty"),
        ({"target_activation": 1.0}, "target"),
        ({"sparsity_weight": -1.0}, "sparsity_weight"),
    ]:
        with pytest.raises(ValueError, match=word):
            convae_tf.get_model("sparse", **bad)
    # None picks the penalty's own default, and the config records the value used.
    assert convae_tf.get_model("sparse", penalty="kl").get_config()["sparsity_weight"] == 0.1
    assert convae_tf.get_model("sparse", penalty="l1").get_config()["sparsity_weight"] == 1e-3


# ------------------------------------------------------------------------------------ vae
def constant_vae(mean, log_var, logit, **options):
    """A tiny VAE whose posterior is N(mean, exp(log_var)) and whose decoder outputs `logit` at
    every pixel, whatever the input: every weight 0 except two biases."""
    model = tiny_model("vae", latent_dim=2, filters=(2,), **options)
    x = images((4, 4, 1), batch=2, seed=5)
    model(x)
    for variable in model.encoder.weights + model.decoder.weights:
        variable.assign(np.zeros(variable.shape, np.float32))
    raw_log_var = [10 * math.atanh(v / 10) for v in log_var]  # undo the soft bound
    model.encoder.get_layer("code").bias.assign(np.array([*mean, *raw_log_var], np.float32))
    model.decoder.get_layer("logits").bias.assign(np.array([logit], np.float32))
    return model, x


def test_vae_negative_elbo_by_hand():
    model, x = constant_vae([0.5, -1.0], [0.0, math.log(2.0)], 0.5, beta=2.0)
    # Bernoulli: −log p(x|z) = Σ_pixels softplus(l) − l·x, with l = 0.5 for all 16 pixels.
    recon = [16 * math.log1p(math.exp(0.5)) - 0.5 * float(image.sum()) for image in x]
    kl = 0.5 * ((1 + 0.25 - 1 - 0) + (2 + 1 - 1 - math.log(2.0)))  # 0.778426
    mean_recon = sum(recon) / 2
    for training in (False, True):  # the sample does not matter: the decoder is constant
        terms = model.loss_terms(x, training=training)
        np.testing.assert_allclose(terms["reconstruction"], mean_recon, rtol=1e-5)
        np.testing.assert_allclose(terms["kl"], kl, rtol=1e-5)
        np.testing.assert_allclose(terms["loss"], mean_recon + 2.0 * kl, rtol=1e-5)
    # score: the ELBO itself, β not included.
    np.testing.assert_allclose(model.score(x), [r + kl for r in recon], rtol=1e-5)


def test_vae_gaussian_likelihood_by_hand():
    model, x = constant_vae(
        [0.0, 0.0], [0.0, 0.0], 0.0, reconstruction_loss="mse", gaussian_scale=0.2
    )
    # mean = sigmoid(0) = 0.5, σ = 0.2; the posterior is the prior, so KL = 0.
    recon = [
        float(np.sum(0.5 * ((image - 0.5) / 0.2) ** 2))
        + 16 * (math.log(0.2) + 0.5 * math.log(2 * math.pi))
        for image in x
    ]
    np.testing.assert_allclose(model.score(x), recon, rtol=1e-5)
    terms = model.loss_terms(x)
    np.testing.assert_allclose(terms["kl"], 0.0, atol=1e-7)
    np.testing.assert_allclose(terms["loss"], np.mean(recon), rtol=1e-5)


def test_vae_samples_in_training_and_is_deterministic_at_inference():
    model = tiny_model("vae")
    x = images()
    assert not np.array_equal(model(x, training=True), model(x, training=True))
    a, b = model.loss_terms(x, training=True), model.loss_terms(x, training=True)
    assert float(a["reconstruction"]) != float(b["reconstruction"])
    mean, log_var = model.encode(x)
    assert tuple(mean.shape) == tuple(log_var.shape) == (2, TINY["latent_dim"])
    np.testing.assert_array_equal(model(x), model.decode(mean))
    # Its code (evaluation, embeddings, the decoder's serving input) is the posterior mean, and
    # serving names both moments.
    np.testing.assert_array_equal(model.code(x), mean)
    served = model.encode_outputs(x)
    np.testing.assert_array_equal(served["mean"], mean)
    np.testing.assert_array_equal(served["log_var"], log_var)


def test_vae_log_variance_is_bounded():
    model, x = constant_vae([0.0, 0.0], [0.0, 0.0], 0.0)
    model.encoder.get_layer("code").bias.assign(np.array([0, 0, 1e4, -1e4], np.float32))
    _, log_var = model.encode(x)
    assert np.abs(np.asarray(log_var)).max() <= 10.0
    assert np.isfinite(np.asarray(model.loss_terms(x, training=True)["loss"]))


def test_vae_sample_from_the_prior():
    model = tiny_model("vae")
    model(images())
    a = np.asarray(model.sample(5, seed=3))
    assert a.shape == (5, *SHAPE) and a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, model.sample(5, seed=3))
    assert not np.array_equal(a, model.sample(5, seed=4))
    assert not np.array_equal(model.sample(5), model.sample(5))


# A VAE whose decoder ignores the code has p(x) = p(x|z) exactly: the likelihood is known in
# closed form, and every bound can be checked against it. Its posterior N((0.5, -1), diag(1, 2))
# is not the prior, so the negative ELBO exceeds −log p(x) by the closed-form KL.
POSTERIOR = ([0.5, -1.0], [0.0, math.log(2.0)])
POSTERIOR_KL = 0.5 * ((1 + 0.25 - 1 - 0) + (2 + 1 - 1 - math.log(2.0)))  # 0.778426


def constant_decoder_nll(image, logit=0.5):
    """−log p(x) of a decoder that outputs `logit` at every pixel: Σ softplus(l) − l·x."""
    return image.size * math.log1p(math.exp(logit)) - logit * float(image.sum())


def test_reparameterize_draws_from_the_posterior():
    mean = np.array([1.0, -2.0], np.float32)
    log_var = np.array([math.log(4.0), 0.0], np.float32)
    np.testing.assert_allclose(vae.reparameterize(mean, log_var, np.array([0.5, 2.0])), [2, 0])
    epsilon = np.random.default_rng(0).standard_normal((200_000, 2)).astype(np.float32)
    z = np.asarray(vae.reparameterize(mean, log_var, epsilon))
    np.testing.assert_allclose(z.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(z.var(axis=0), [4.0, 1.0], rtol=0.02)


def test_iwae_loss_is_exact_when_the_posterior_is_the_prior():
    """With q(z|x) = p(z) and a decoder that ignores z, every importance weight is p(x):
    the bound is −log p(x) whatever the samples, for the training loss and the evaluation."""
    model, x = constant_vae([0.0, 0.0], [0.0, 0.0], 0.5, iw_samples=5)
    nll = [constant_decoder_nll(image) for image in x]
    terms = model.loss_terms(x, training=True)
    np.testing.assert_allclose(terms["loss"], np.mean(nll), rtol=1e-5)
    np.testing.assert_allclose(terms["kl"], 0.0, atol=1e-6)
    for k in (1, 5):
        neg_elbo, nll_is = likelihood.bounds(model, x, k=k)
        np.testing.assert_allclose(neg_elbo, nll, rtol=1e-5)
        np.testing.assert_allclose(nll_is, nll, rtol=1e-5)


def test_iwae_loss_tightens_with_k_from_the_elbo_to_the_likelihood():
    """Averaged over many images, the bound is the negative ELBO (−log p(x) + KL) at k = 1 and
    falls towards −log p(x) as k grows, never below it; the logged terms are the mean
    reconstruction and the closed-form KL."""
    nll = None
    excess = {}
    for k in (2, 8, 32):
        model, x = constant_vae(*POSTERIOR, 0.5, iw_samples=k)
        nll = constant_decoder_nll(x[0])
        terms = model.loss_terms(np.repeat(x[:1], 4096, axis=0), training=True)
        np.testing.assert_allclose(terms["reconstruction"], nll, rtol=1e-5)
        np.testing.assert_allclose(terms["kl"], POSTERIOR_KL, rtol=1e-5)
        excess[k] = float(terms["loss"]) - nll
    # The Monte Carlo error of each mean is about 0.01 nats.
    assert POSTERIOR_KL > excess[2] > excess[8] > excess[32] > -0.02, excess
    assert excess[32] < 0.1, excess


def test_likelihood_bounds_agree_with_the_closed_form():
    """The evaluation's bounds on the same model: the negative ELBO averages −log p(x) + KL and
    the importance-weighted bound with k = 32 (decoded in chunks) comes within a few
    hundredths of −log p(x), never above the ELBO of the same samples."""
    model, x = constant_vae(*POSTERIOR, 0.5)
    nll = constant_decoder_nll(x[0])
    copies = np.repeat(x[:1], 256, axis=0)
    neg_elbo, _ = likelihood.bounds(model, copies, k=1, batch_size=256)
    standard_error = np.std(neg_elbo) / math.sqrt(len(neg_elbo))
    assert abs(np.mean(neg_elbo) - nll - POSTERIOR_KL) < 4 * standard_error
    neg_elbo, nll_is = likelihood.bounds(model, copies, k=32, batch_size=256)
    assert np.all(nll_is <= neg_elbo + 1e-9)
    assert -0.02 < np.mean(nll_is) - nll < 0.1
    np.testing.assert_allclose(np.mean(neg_elbo) - nll, POSTERIOR_KL, atol=0.05)


def exact_nll(model, x, step=0.2, half_width=6.0):
    """−log p(x) of a VAE with a 2-d N(0, I) prior: ∫ p(x|z) p(z) dz by quadrature on a grid
    (the integrand is smooth and negligible beyond 6σ)."""
    axis = np.arange(-half_width, half_width + step / 2, step, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    log_prior = stats.norm.logpdf(grid).sum(axis=-1)
    logits = model.decode_logits(grid)
    nll = []
    for image in x:
        error = np.asarray(model.reconstruction_error(np.broadcast_to(image, logits.shape), logits))
        nll.append(-(special.logsumexp(log_prior - error) + 2 * math.log(step)))
    return np.array(nll)


def test_likelihood_bounds_approach_the_likelihood_by_quadrature():
    """A decoder that depends on the code, with a Gaussian likelihood wide enough that 1,000
    samples suffice: the exact −log p(x) by quadrature over the 2-d code space lies below the
    negative ELBO of every image, and the importance-weighted bound closes most of the gap."""
    keras.utils.set_random_seed(0)
    model = tiny_model("vae", reconstruction_loss="mse", gaussian_scale=1.0)
    x = blob_images(4, SHAPE[0]).astype(np.float32) / 255.0
    model(x)
    first = model.decoder.weights[0]
    first.assign(3.0 * first)  # a decoder whose output moves more with the code
    exact = exact_nll(model, x, step=0.1)
    np.testing.assert_allclose(exact_nll(model, x, step=0.2), exact, atol=1e-2)
    neg_elbo, nll_is = likelihood.bounds(model, x, k=1000)
    assert np.all(neg_elbo - exact > 0.05), neg_elbo - exact
    assert abs(np.mean(nll_is - exact)) < 0.3, nll_is - exact
    assert np.mean(nll_is - exact) < 0.5 * np.mean(neg_elbo - exact)


def test_an_images_log_weights_do_not_depend_on_the_rest_of_the_batch():
    model = tiny_model("vae")
    x = blob_images(3, SHAPE[0]).astype(np.float32) / 255.0
    model(x)
    epsilon = np.random.default_rng(0).standard_normal((5, 3, 2)).astype(np.float32)
    together = np.asarray(model.log_importance_weights(x, epsilon))
    assert together.shape == (5, 3)
    for i in range(3):
        alone = model.log_importance_weights(x[i : i + 1], epsilon[:, i : i + 1])
        np.testing.assert_allclose(np.asarray(alone)[:, 0], together[:, i], rtol=1e-5)


def test_iwae_validates_as_the_plain_vae():
    """Validation is the plain VAE's negative ELBO at the posterior mean, whatever k."""
    x = images(batch=4, seed=2)
    model = tiny_model("vae", iw_samples=3)
    model(x)
    plain = tiny_model("vae")
    plain(x)
    plain.set_weights(model.get_weights())
    for name, value in model.loss_terms(x).items():
        np.testing.assert_allclose(value, plain.loss_terms(x)[name], rtol=1e-6)


def test_iwae_trains_and_keeps_its_setting():
    model = tiny_model("vae", iw_samples=4)
    # Discs, not uniform noise: noise leaves little to learn, and the sampled loss then fell
    # over the 2 epochs in only 6 of 8 seeds; on discs in every one.
    x = blob_images(8, SHAPE[0]).astype(np.float32) / 255.0
    history = model.fit(x, validation_data=(x,), epochs=2, batch_size=4, verbose=0)
    assert set(history.history) >= {"loss", "reconstruction", "kl", "val_loss"}
    assert all(np.isfinite(v).all() for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.get_config()["iw_samples"] == 4
    with pytest.raises(ValueError, match="iw_samples=0 must be >= 1"):
        convae_tf.get_model("vae", iw_samples=0)


def test_vamp_prior_is_a_density_with_the_mixtures_moments():
    """Integrated over the 2-d code space the VampPrior is 1, and its mean and second moment are
    those of the equal mixture of the pseudo-inputs' posteriors."""
    model = tiny_model("vae", prior_components=3)
    model(images())
    assert tuple(model.pseudo_logits.shape) == (3, *SHAPE)
    # Posteriors away from N(0, I), so that a wrong mean or variance term shows.
    bias = model.encoder.get_layer("code").bias
    bias.assign(bias + np.array([1.0, -0.5, 0.6, -0.8], np.float32))
    means, log_vars = (np.asarray(t, np.float64) for t in model.prior_posteriors())
    assert np.ptp(means, axis=0).min() > 0 and np.abs(log_vars).min() > 0.1
    step = 0.05
    axis = np.arange(-8.0, 8.0 + step / 2, step, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    mass = np.exp(np.asarray(model.log_prior(grid), np.float64)) * step**2
    assert np.sum(mass) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(mass @ grid, means.mean(axis=0), atol=1e-4)
    second = np.mean(np.square(means) + np.exp(log_vars), axis=0)
    np.testing.assert_allclose(mass @ np.square(grid), second, atol=1e-4)


def test_vamp_prior_of_equal_components_and_the_standard_prior_in_closed_form():
    z = np.random.default_rng(0).standard_normal((2, 5, 2)).astype(np.float32)
    # A constant encoder gives every pseudo-input the same posterior: the mixture is that one
    # Gaussian.
    model, _ = constant_vae(*POSTERIOR, 0.5, prior_components=3)
    mean, variance = np.array(POSTERIOR[0]), np.exp(POSTERIOR[1])
    gaussian = stats.norm.logpdf(z, mean, np.sqrt(variance)).sum(axis=-1)
    np.testing.assert_allclose(model.log_prior(z), gaussian, rtol=1e-5)
    # Without components the prior is N(0, I).
    standard = stats.norm.logpdf(z).sum(axis=-1)
    np.testing.assert_allclose(tiny_model("vae").log_prior(z), standard, rtol=1e-5)
    with pytest.raises(ValueError, match="prior_components=-1 must be >= 0"):
        convae_tf.get_model("vae", prior_components=-1)


def test_vamp_training_kl_is_zero_when_the_prior_is_the_posterior():
    """A constant encoder makes the VampPrior equal to q(z|x): log q(z|x) − log p(z) is 0 for
    every sample, and the loss is the reconstruction alone."""
    model, x = constant_vae(*POSTERIOR, 0.5, prior_components=3, beta=2.0)
    nll = [constant_decoder_nll(image) for image in x]
    terms = model.loss_terms(x, training=True)
    np.testing.assert_allclose(terms["kl"], 0.0, atol=1e-5)
    np.testing.assert_allclose(terms["reconstruction"], np.mean(nll), rtol=1e-5)
    np.testing.assert_allclose(terms["loss"], np.mean(nll), rtol=1e-5)


def test_vamp_training_kl_is_an_unbiased_estimate(monkeypatch):
    """The sampled KL averages the closed form when the prior is N(0, I); the loss adds it
    with weight β."""
    model, x = constant_vae(*POSTERIOR, 0.5, prior_components=3, beta=2.0)
    monkeypatch.setattr(model, "log_prior", tiny_model("vae").log_prior)
    terms = model.loss_terms(np.repeat(x[:1], 4096, axis=0), training=True)
    # The Monte Carlo error of the mean is about 0.03 nats.
    assert float(terms["kl"]) == pytest.approx(POSTERIOR_KL, abs=0.1)
    expected = float(terms["reconstruction"]) + 2.0 * float(terms["kl"])
    np.testing.assert_allclose(terms["loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(terms["reconstruction"], constant_decoder_nll(x[0]), rtol=1e-5)


def test_vamp_kl_is_deterministic_and_exact_for_a_quadratic_log_prior(monkeypatch):
    """kl() takes E_q[log p(z)] by the unscented transform: with N(0, I)'s log density in place
    of the mixture it must give the closed-form KL; with the mixture, the same on every call."""
    x = images(batch=4, seed=3)
    model = tiny_model("vae", prior_components=3)
    model(x)
    encoded = model.encode(x)
    kl = np.asarray(model.kl(encoded))
    np.testing.assert_array_equal(kl, model.kl(encoded))
    standard = tiny_model("vae")
    monkeypatch.setattr(model, "log_prior", standard.log_prior)
    np.testing.assert_allclose(model.kl(encoded), losses.gaussian_kl(*encoded), rtol=1e-4)
    assert not np.allclose(kl, losses.gaussian_kl(*encoded), rtol=1e-2)


@pytest.mark.parametrize("iw_samples", [1, 2])
def test_vamp_trains_validates_deterministically_samples_and_round_trips(iw_samples, tmp_path):
    model = tiny_model("vae", prior_components=4, iw_samples=iw_samples)
    x = images(batch=8)
    model(x)
    initial = np.asarray(model.pseudo_logits).copy()
    history = model.fit(x, validation_data=(x,), epochs=3, batch_size=4, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    # The pseudo-inputs are trained with the rest.
    assert np.abs(np.asarray(model.pseudo_logits) - initial).max() > 1e-4
    # Validation and scores estimate the KL from a fixed draw: the same on every call.
    val = model.evaluate(x, batch_size=4, verbose=0, return_dict=True)
    assert val == model.evaluate(x, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_array_equal(model.score(x), model.score(x))
    samples = np.asarray(model.sample(5, seed=3))
    assert samples.shape == (5, *SHAPE) and 0 <= samples.min() <= samples.max() <= 1
    np.testing.assert_array_equal(samples, model.sample(5, seed=3))
    assert not np.array_equal(samples, model.sample(5, seed=4))
    # The likelihood bounds use the model's prior: moving the pseudo-inputs moves them.
    neg_elbo, nll_is = likelihood.bounds(model, x, k=8)
    assert np.all(nll_is <= neg_elbo + 1e-6)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.get_config()["prior_components"] == 4
    np.testing.assert_array_equal(reloaded.score(x), model.score(x))
    np.testing.assert_allclose(likelihood.bounds(reloaded, x, k=8)[1], nll_is, rtol=1e-6)
    model.pseudo_logits.assign(model.pseudo_logits + 3.0)
    assert not np.allclose(likelihood.bounds(model, x, k=8)[1], nll_is)


def test_kl_warmup_ramps_the_kl_weight_from_0_to_1():
    assert [vae.KLWarmUp(4).weight(e) for e in range(6)] == [0, 0.25, 0.5, 0.75, 1, 1]
    assert tiny_model("vae").training_callbacks() == []
    assert float(tiny_model("vae").kl_weight) == 1.0  # no warm-up: the ELBO from the start
    model = tiny_model("vae", kl_warmup_epochs=2, beta=3.0)
    (warmup,) = model.training_callbacks()
    assert isinstance(warmup, vae.KLWarmUp) and warmup.epochs == 2
    history = model.fit(images(batch=4), epochs=3, callbacks=[warmup], verbose=0)
    assert history.history["kl_weight"] == [0.0, 0.5, 1.0]
    # The weight multiplies β·KL in the loss.
    model.kl_weight.assign(0.5)
    terms = model.loss_terms(images(), training=False)
    np.testing.assert_allclose(
        terms["loss"], terms["reconstruction"] + 0.5 * 3.0 * terms["kl"], rtol=1e-5
    )


def test_validation_during_warmup_measures_the_full_objective():
    model = tiny_model("vae", kl_warmup_epochs=4, beta=2.0)
    x = images(batch=4)
    history = model.fit(
        x, validation_data=(x,), epochs=1, callbacks=model.training_callbacks(), verbose=0
    )
    assert history.history["kl_weight"] == [0.0]
    val = history.history
    np.testing.assert_allclose(
        val["val_loss"][0], val["val_reconstruction"][0] + 2.0 * val["val_kl"][0], rtol=1e-5
    )
    assert float(model.kl_weight) == 0.0  # training's weight is back after validation


def test_kl_weight_survives_a_keras_round_trip(tmp_path):
    model = tiny_model("vae", kl_warmup_epochs=4)
    x = images()
    model.fit(x, epochs=2, callbacks=model.training_callbacks(), verbose=0)
    assert float(model.kl_weight) == 0.25  # at the start of the second epoch
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert float(reloaded.kl_weight) == 0.25
    assert reloaded.training_callbacks()[0].epochs == 4
    np.testing.assert_array_equal(reloaded.score(x), model.score(x))


def test_vae_learned_scale_is_one_trainable_variable_that_round_trips(tmp_path):
    model = tiny_model("vae", reconstruction_loss="mse", learn_scale=True, gaussian_scale=0.5)
    x = images()
    model(x)
    assert float(model.log_scale) == pytest.approx(math.log(0.5))
    with tf.GradientTape() as tape:
        loss = model.loss_terms(x, training=True)["loss"]
    assert tape.gradient(loss, model.log_scale.value) is not None
    model.fit(x, epochs=3, verbose=0)
    assert float(model.log_scale) != pytest.approx(math.log(0.5))
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert float(reloaded.log_scale) == float(model.log_scale)
    np.testing.assert_array_equal(reloaded.score(x), model.score(x))
    with pytest.raises(ValueError, match="learn_scale"):
        convae_tf.get_model("vae", learn_scale=True)  # Bernoulli has no scale


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    "name, options",
    [
        (
            "dae",
            {
                "gaussian_std": 0.1,
                "salt_pepper": 0.05,
                "masking": 0.2,
                "rectangles": 2,
                "rectangle_size": (0.2, 0.4),
            },
        ),
        ("dae", {"gaussian_std": (0.0, 0.196), "rectangles": 1}),
        ("sparse", {"penalty": "l1", "sparsity_weight": 0.02, "target_activation": 0.1}),
        (
            "vae",
            {
                "beta": 4.0,
                "kl_warmup_epochs": 3,
                "gaussian_scale": 0.3,
                "reconstruction_loss": "mse",
            },
        ),
    ],
)
def test_variant_arguments_and_base_arguments_round_trip(name, options, tmp_path):
    model = tiny_model(name, pooling="avg", **options)
    x = images()
    model.fit(x, epochs=1, verbose=0)
    config = model.get_config()
    assert {**TINY, "pooling": "avg", **options}.items() <= config.items()
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.get_config() == config
    np.testing.assert_array_equal(reloaded(x), model(x))


# ------------------------------------------------------------------------------ inpainting
def test_dae_with_strokes_validates_on_fixed_holes_and_trains_on_new_ones():
    model = tiny_model("dae", gaussian_std=0.0, strokes=2, rectangles=1)
    x = images((17, 23, 3), batch=4) * 0.9 + 0.05  # odd sizes, colour, no zeros of its own
    fixed = np.asarray(model.fixed_corrupt(x))
    np.testing.assert_array_equal(fixed, model.fixed_corrupt(x))  # every epoch the same
    assert (fixed == 0).any(axis=(1, 2, 3)).all()
    trained = [np.asarray(model.corrupt(x, training=True)) for _ in range(2)]
    assert not np.array_equal(trained[0] == 0, trained[1] == 0)  # new holes every step
    history = model.fit(x, batch_size=2, epochs=1, verbose=0, validation_data=(x,)).history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()


def test_mask_channel_shows_the_encoder_where_the_holes_are(monkeypatch, tmp_path):
    """mask_channel=True: the encoder reads C + 1 channels, the last the holes (1 = missing):
    those drawn in training, zeros for an image given whole, the user's mask in `inpaint`;
    every method and the .keras round trip take C-channel images."""
    model = tiny_model("dae", gaussian_std=0.0, strokes=1, rectangles=1, mask_channel=True)
    x = images((17, 23, 3), batch=4) * 0.9 + 0.05
    assert np.asarray(model(x)).shape == x.shape
    assert model.encoder.input_shape == (None, 17, 23, 4)
    seen, encoder_inputs = [], model.encoder_inputs

    def spy(images, missing=None):
        seen.append(np.asarray(encoder_inputs(images, missing)))
        return seen[-1]

    monkeypatch.setattr(model, "encoder_inputs", spy)
    model.loss_terms(x, training=True)
    holed, missing = seen[-1][..., :3], seen[-1][..., 3:]
    assert missing.any() and set(np.unique(missing)) == {0.0, 1.0}
    np.testing.assert_array_equal(holed == 0, np.broadcast_to(missing > 0, holed.shape))
    for inference in (model, model.encode, model.score):
        inference(x)
        np.testing.assert_array_equal(seen[-1], np.concatenate([x, 0 * x[..., :1]], -1))
    masks = (images((17, 23, 1), batch=4, seed=3) < 0.3).astype(np.float32)
    model.inpaint(x, masks)
    np.testing.assert_array_equal(seen[-1], np.concatenate([x * (1 - masks), masks], -1))
    monkeypatch.undo()
    model.fit(x, batch_size=2, epochs=1, verbose=0, validation_data=(x,))
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.mask_channel and reloaded.strokes == 1
    np.testing.assert_array_equal(reloaded.inpaint(x, masks), model.inpaint(x, masks))


def test_prefill_holes_gives_the_encoder_the_holes_filled_from_their_surroundings(
    monkeypatch, tmp_path
):
    """prefill_holes=True: in training and in `inpaint` the encoder reads the holed images
    with the holes filled by `hole_fill.pull_push` (the mask channel still says where they
    are); images given whole reach it unchanged."""
    model = tiny_model("dae", gaussian_std=0.0, rectangles=1, mask_channel=True, prefill_holes=True)
    x = images((17, 23, 3), batch=4) * 0.9 + 0.05
    model(x)
    seen, encoder = [], model.encoder

    def spy(inputs, training=False):
        seen.append(np.asarray(inputs))
        return encoder(inputs, training=training)

    monkeypatch.setattr(model, "encoder", spy)
    inputs = np.asarray(model.corrupt(x, training=True))
    model.encode(inputs)
    filled, missing = seen[-1][..., :3], seen[-1][..., 3:]
    assert 0 < missing.mean() < 1
    hole = np.broadcast_to(missing > 0, filled.shape)
    np.testing.assert_array_equal(filled[~hole], x[~hole])
    expected = hole_fill.pull_push(x * (1 - missing), missing)
    np.testing.assert_allclose(filled, expected, atol=1e-6)
    assert filled[hole].min() > 0  # the holes are filled, not zeros
    model.encode(x)
    np.testing.assert_array_equal(seen[-1], np.concatenate([x, 0 * x[..., :1]], -1))
    monkeypatch.undo()
    path = tmp_path / "m.keras"
    model.save(path)
    assert keras.saving.load_model(path).prefill_holes


def test_hole_weight_counts_the_holes_errors_that_many_times_a_known_pixels():
    model = tiny_model(
        "dae",
        gaussian_std=0.0,
        strokes=2,
        mask_channel=True,
        hole_weight=6.0,
        reconstruction_loss="mse",
    )
    x = images((16, 16, 1), batch=4)
    inputs = model.fixed_corrupt(x)
    missing = np.asarray(inputs)[..., 1:]
    assert 0 < missing.mean() < 1
    _, logits = model.encode_and_reconstruct(inputs)
    error = np.square(np.asarray(keras.ops.sigmoid(logits)) - x)
    weighted = model.loss_terms(x, inputs=inputs)["reconstruction"]
    np.testing.assert_allclose(weighted, np.mean(error * (1 + 5 * missing)), rtol=1e-5)
    model.hole_weight = 1.0
    plain = model.loss_terms(x, inputs=inputs)["reconstruction"]
    np.testing.assert_allclose(plain, np.mean(error), rtol=1e-5)
    # A clean batch (no mask channel, as `evaluate` gives) has no holes to weight.
    model.hole_weight = 6.0
    clean = model.loss_terms(x)["reconstruction"]
    np.testing.assert_allclose(clean, np.mean(np.square(np.asarray(model(x)) - x)), rtol=1e-5)


@pytest.mark.parametrize(
    "name, args",
    [
        ("ae", {}),
        ("vae", {}),
        ("dae", {"rectangles": 1}),
        ("dae", {"strokes": 1, "mask_channel": True}),
        (
            "dae",
            {"strokes": 1, "mask_channel": True, "prefill_holes": True, "residual": True},
        ),
    ],
)
def test_inpaint_fills_the_holes_and_keeps_the_known_pixels_bit_exactly(name, args):
    model = tiny_model(name, **args)
    x = images((16, 16, 3), batch=3)
    masks = np.asarray(corruptions.stroke_mask(x, 1, 2, 0.1, 0.2))
    filled = np.asarray(model.inpaint(x, masks))
    known = np.broadcast_to(masks == 0, x.shape)
    np.testing.assert_array_equal(filled[known], x[known])  # bit for bit
    # The holes get the reconstruction of the holed images, not the pixels they hid.
    holed = x * (1 - masks)
    inputs = model.encoder_inputs(holed, masks)
    expected = np.asarray(keras.ops.sigmoid(model.encode_and_reconstruct(inputs)[1]))
    np.testing.assert_allclose(filled[~known], expected[~known], atol=1e-6)
    assert not np.allclose(filled[~known], x[~known])


def test_noise_balance_weights_each_image_by_its_measured_noise_level():
    model = tiny_model("dae", gaussian_std=(0.0, 0.4), noise_balance=0.1, reconstruction_loss="mse")
    x = images((16, 16, 1), batch=8)
    inputs = model.fixed_corrupt(x)
    level = np.sqrt(np.mean(np.square(np.asarray(inputs) - x), axis=(1, 2, 3)))
    assert level.max() > 3 * level.min()  # blind noise: the images got different levels
    _, logits = model.encode_and_reconstruct(inputs)
    error = np.mean(np.square(np.asarray(keras.ops.sigmoid(logits)) - x), axis=(1, 2, 3))
    weighted = model.loss_terms(x, inputs=inputs)["reconstruction"]
    np.testing.assert_allclose(weighted, np.mean(error * 0.1 / (0.1 + level)), rtol=1e-5)
    model.noise_balance = 0.0
    np.testing.assert_allclose(
        model.loss_terms(x, inputs=inputs)["reconstruction"], error.mean(), rtol=1e-5
    )
    # The argument survives saving, like every constructor argument.
    assert convae_tf.get_model("dae", noise_balance=0.1).get_config()["noise_balance"] == 0.1
