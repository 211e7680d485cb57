"""convae_tf.data: sources (sprites, TFDS, npz, folder, idx), image ops and pipelines."""

from __future__ import annotations

import concurrent.futures
import gzip

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from conftest import write_png
from PIL import Image

from convae_tf import data
from convae_tf.data import DataError, load_source, make_pipelines, sprites, tfds_sources


@pytest.fixture(scope="module")
def sprites_source(sprites_dir):
    return load_source("sprites", data_dir=str(sprites_dir))


def raises_data_error(fn, *fragments):
    """Calls fn, expects a one-line DataError whose message holds every fragment."""
    with pytest.raises(DataError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def first(ds, n):
    return list(ds.take(n).as_numpy_iterator())


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def coded_images(n, size=4, channels=1, offset=0):
    """uint8 images whose constant value identifies them (value = offset + index)."""
    values = (offset + np.arange(n)).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (n, size, size, channels)).copy()


# --- sprites -------------------------------------------------------------------------------------


def test_sprites_is_the_default_and_has_the_documented_shape(sprites_source):
    assert data.DEFAULT_DATASET == "sprites"
    src = sprites_source
    assert (src.image_shape, src.num_classes, src.has_labels) == ((32, 32, 1), 3, True)
    assert (src.num_train, src.num_test) == (10_000, 2_000)
    assert src.test.element_spec["image"] == tf.TensorSpec((32, 32, 1), tf.float32)
    assert src.train.element_spec["label"].dtype == tf.int64
    examples = first(src.train, 300)
    images = np.stack([ex["image"] for ex in examples])
    # Binary images: only 0 and 1, every image has a shape and none fills the frame.
    assert set(np.unique(images)) == {0.0, 1.0}
    assert (images.sum(axis=(1, 2, 3)) > 0).all()
    assert images[:, [0, -1], :, :].max() == 0 and images[:, :, [0, -1], :].max() == 0
    assert {int(ex["label"]) for ex in examples} == {0, 1, 2}


def test_sprites_prepares_identically_even_twice_at_once_and_later_loads_only_read(
    sprites_dir, sprites_source, tmp_path, monkeypatch
):
    # Two runs started together on a fresh machine both find it missing: one waits for the
    # other (unlocked, the second's rename of its finished folder fails).
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        both = list(pool.map(lambda _: load_source("sprites", data_dir=str(tmp_path)), "ab"))
    for again in both:
        for a, b in zip(first(sprites_source.train, 16), first(again.train, 16), strict=True):
            np.testing.assert_array_equal(a["image"], b["image"])
            assert a["label"] == b["label"]

    def no_generation(self, split):
        raise AssertionError("an already prepared dataset was generated again")

    monkeypatch.setattr(sprites.ConvaeSprites, "_generate_examples", no_generation)
    assert load_source("sprites", data_dir=str(sprites_dir)).num_train == 10_000


@pytest.mark.slow  # prepares a second, 4× larger dataset
def test_sprites_64(tmp_path):
    src = load_source("sprites/64", data_dir=str(tmp_path))
    assert src.image_shape == (64, 64, 1)
    assert first(src.test, 1)[0]["image"].shape == (64, 64, 1)


def test_sprites_unknown_size(tmp_path):
    raises_data_error(lambda: load_source("sprites/48", data_dir=str(tmp_path)), "'sprites/64'")


def test_sprites_factors_change_the_picture():
    ones = np.ones(3, np.float32)
    half = ones / 2
    drawn = sprites.render(np.arange(3), ones, 0 * ones, half, half, 32)[..., 0]
    # Three different shapes for the same factors; each is centred and of a sensible size.
    assert len({im.tobytes() for im in drawn}) == 3
    assert all(40 < (im > 0).sum() < 200 for im in drawn)
    turned = sprites.render(
        np.zeros(1, int), ones[:1], ones[:1] * np.pi / 4, half[:1], half[:1], 32
    )
    assert not np.array_equal(turned[0, ..., 0], drawn[0])
    moved = sprites.render(np.zeros(1, int), ones[:1], 0 * ones[:1], ones[:1], half[:1], 32)
    assert np.argwhere(moved[0, ..., 0])[:, 1].mean() > np.argwhere(drawn[0])[:, 1].mean() + 5


# --- TFDS by name (mocked: no network here) -------------------------------------------------------


@pytest.mark.parametrize(
    "name, shape, num_classes",
    [("mnist", (28, 28, 1), 10), ("cifar10", (32, 32, 3), 10), ("cifar100", (32, 32, 3), 100)],
)
def test_tfds_by_name(tmp_path, name, shape, num_classes):
    with tfds.testing.mock_data(num_examples=6):
        src = load_source(name, data_dir=str(tmp_path))
        examples = first(src.train, 6)
    assert (src.image_shape, src.num_classes, src.num_train, src.num_test) == (
        shape,
        num_classes,
        6,
        6,
    )
    # cifar10 also has a string "id" and cifar100 a "coarse_label": only image and label remain.
    assert set(examples[0]) == {"image", "label"}
    images = np.stack([ex["image"] for ex in examples])
    assert images.dtype == np.float32 and images.shape == (6, *shape)
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.5
    assert all(0 <= ex["label"] < num_classes for ex in examples)


def test_tfds_varying_image_sizes_need_image_size(tmp_path):
    with tfds.testing.mock_data(num_examples=3):
        raises_data_error(
            lambda: load_source("cats_vs_dogs", data_dir=str(tmp_path)),
            "vary in size",
            "image_size",
        )
        src = load_source("cats_vs_dogs", data_dir=str(tmp_path), image_size=(12, 10))
        images = [ex["image"] for ex in first(src.train, 3)]
    assert src.image_shape == (12, 10, 3)
    assert all(im.shape == (12, 10, 3) for im in images)


def test_image_and_label_keys_are_found_by_type():
    features = tfds.features.FeaturesDict(
        {
            "a_id": tfds.features.Text(),
            "picture": tfds.features.Image(shape=(8, 8, 1)),
            "kind": tfds.features.ClassLabel(num_classes=2),
            "label": tfds.features.ClassLabel(num_classes=5),
        }
    )
    assert tfds_sources._key_of_type(features, tfds.features.Image, prefer="image") == "picture"
    assert tfds_sources._key_of_type(features, tfds.features.ClassLabel, prefer="label") == "label"
    assert tfds_sources._key_of_type(features, tfds.features.Video, prefer="video") is None


def test_tfds_unknown_name_suggests_close_names(tmp_path):
    raises_data_error(
        lambda: load_source("mnistt", data_dir=str(tmp_path)),
        "unknown dataset 'mnistt'",
        "did you mean",
        "mnist",
        "npz:PATH",
        "folder:PATH",
    )


def test_tfds_bad_config(tmp_path):
    raises_data_error(lambda: load_source("mnist/nope", data_dir=str(tmp_path)), "'mnist/nope'")


def test_tfds_failed_download(tmp_path, monkeypatch):
    def offline(self, *args, **kwargs):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    raises_data_error(
        lambda: load_source("mnist", data_dir=str(tmp_path)),
        "could not be downloaded",
        "--data_dir",
        str(tmp_path),
    )


class ConvaeTfUnreachableDownload(tfds.core.GeneratorBasedBuilder):
    """A TFDS dataset whose only file lives on a host that can never resolve (RFC 2606)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(4, 4, 1))}),
        )

    def _split_generators(self, dl_manager):
        dl_manager.download("https://convae-tf.invalid/images.npz")
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        yield 0, {"image": np.zeros((4, 4, 1), np.uint8)}


def test_unreachable_download_fails_after_a_few_retries(tmp_path, monkeypatch):
    """Offline, TFDS's own policy (10 retries, exponential backoff) stays silent for minutes
    before failing; ours gives up after DOWNLOAD_RETRIES and says what to do."""
    import urllib3

    backoffs = []
    monkeypatch.setattr(urllib3.util.retry.Retry, "_sleep_backoff", lambda self: backoffs.append(1))
    raises_data_error(
        lambda: load_source("convae_tf_unreachable_download", data_dir=str(tmp_path)),
        "could not be downloaded",
        "--data_dir",
    )
    assert 1 <= len(backoffs) <= tfds_sources.DOWNLOAD_RETRIES
    # TFDS's own setting is back once the download is over.
    assert tfds_sources.tfds_downloader.MAX_RETRIES > tfds_sources.DOWNLOAD_RETRIES


def test_split_choice():
    assert tfds_sources._pick_splits("x", ["train", "test", "validation"]) == ("train", "test")
    assert tfds_sources._pick_splits("x", ["train", "validation"]) == ("train", "validation")
    assert tfds_sources._pick_splits("x", ["train"]) == ("train[:80%]", "train[80%:]")
    raises_data_error(lambda: tfds_sources._pick_splits("x", ["test"]), "no 'train' split")


# --- npz -----------------------------------------------------------------------------------------


def test_npz_uint8_3d_with_labels(tmp_path):
    x_train = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    y_train = np.array([0, 2, 1, 2, 0])
    spec = write_npz(
        tmp_path / "d.npz",
        x_train=x_train,
        y_train=y_train,
        x_test=x_train[:2],
        y_test=np.array([[3], [1]]),  # keras.datasets.cifar10 stores N x 1 labels
    )
    src = load_source(spec)
    assert (src.image_shape, src.num_classes, src.num_train, src.num_test) == ((4, 4, 1), 4, 5, 2)
    train = first(src.train, 5)
    np.testing.assert_allclose(train[1]["image"][..., 0], x_train[1] / 255.0, rtol=1e-6)
    assert [int(ex["label"]) for ex in train] == y_train.tolist()
    assert [int(ex["label"]) for ex in first(src.test, 2)] == [3, 1]
    assert train[0]["label"].dtype == np.int64


def test_npz_float_4d_without_labels(tmp_path):
    x = np.random.default_rng(0).random((3, 5, 6, 3)).astype(np.float64)
    src = load_source(write_npz(tmp_path / "d.npz", x_train=x, x_test=x))
    assert (src.image_shape, src.num_classes, src.has_labels) == ((5, 6, 3), None, False)
    example = first(src.test, 1)[0]
    assert set(example) == {"image"} and example["image"].dtype == np.float32
    np.testing.assert_allclose(example["image"], x[0], rtol=1e-6)


NPZ_ERRORS = {
    "rank": (dict(x_train=np.zeros((3, 4), np.uint8)), ["shape (3, 4)", "N x H x W"]),
    "shapes": (
        dict(x_train=np.zeros((3, 8, 8), np.uint8), x_test=np.zeros((3, 9, 9), np.uint8)),
        ["8x8x1", "9x9x1"],
    ),
    "label_length": (
        dict(y_train=np.zeros(3, int), y_test=np.zeros(4, int)),
        ["y_train has 3 labels but x_train has 4 images"],
    ),
    "one_split_labelled": (dict(y_train=np.zeros(4, int)), ["one split only"]),
    "float_range": (
        dict(x_train=np.full((4, 4, 4), 255.0)),
        ["floats in [255, 255]", "must be in [0, 1]"],
    ),
    "channels_first": (
        dict(x_train=np.zeros((4, 3, 8, 8), np.uint8), x_test=np.zeros((4, 3, 8, 8), np.uint8)),
        ["channels-first"],
    ),
    "dtype": (dict(x_train=np.zeros((4, 4, 4), np.int32)), ["dtype int32", "uint8"]),
    "object_array": (
        dict(y_train=np.array([None] * 4, dtype=object), y_test=np.zeros(4, int)),
        ["object arrays"],
    ),
}


@pytest.mark.parametrize("case", sorted(NPZ_ERRORS))
def test_npz_bad_arrays(tmp_path, case):
    overrides, fragments = NPZ_ERRORS[case]
    arrays = {"x_train": np.zeros((4, 4, 4), np.uint8), "x_test": np.zeros((4, 4, 4), np.uint8)}
    spec = write_npz(tmp_path / "d.npz", **(arrays | overrides))
    raises_data_error(lambda: load_source(spec), *fragments)


def test_npz_bad_files(tmp_path):
    raises_data_error(lambda: load_source(f"npz:{tmp_path}/nope.npz"), "does not exist")
    (tmp_path / "text.npz").write_text("hello")
    raises_data_error(lambda: load_source(f"npz:{tmp_path}/text.npz"), "not a readable .npz")
    write_npz(
        tmp_path / "ok.npz", x_train=np.zeros((50, 8, 8), np.uint8), x_test=np.zeros((2, 8, 8))
    )
    (tmp_path / "cut.npz").write_bytes((tmp_path / "ok.npz").read_bytes()[:300])
    raises_data_error(lambda: load_source(f"npz:{tmp_path}/cut.npz"), "cut.npz", "npz")
    np.save(tmp_path / "single.npy", np.zeros((2, 4, 4)))
    raises_data_error(lambda: load_source(f"npz:{tmp_path}/single.npy"), "not an .npz archive")
    spec = write_npz(tmp_path / "keys.npz", x_train=np.zeros((2, 4, 4)), images=np.zeros(2))
    raises_data_error(lambda: load_source(spec), "no x_test", "x_train")


# --- folder --------------------------------------------------------------------------------------


def make_class_folder(root, per_class=12):
    """Class folders 'cat' (label 0: values < 100) and 'dog' (label 1: values >= 100)."""
    for label, name in enumerate(["cat", "dog"]):
        for i in range(per_class):
            write_png(root / name / f"{i:02d}.png", np.full((6, 5, 3), 100 * label + i))
    return f"folder:{root}"


def image_values(ds):
    """The identifying pixel value (0-255) of every image, in order."""
    return [int(round(float(ex["image"][0, 0, 0]) * 255)) for ex in ds.as_numpy_iterator()]


def test_folder_with_class_subfolders(tmp_path):
    src = load_source(make_class_folder(tmp_path / "pets"))
    assert (src.image_shape, src.num_classes) == ((6, 5, 3), 2)
    assert src.num_train + src.num_test == 24 and src.num_test > 0 and src.num_train > 0
    for split in (src.train, src.test):
        for ex in split.as_numpy_iterator():
            assert int(ex["label"]) == int(ex["image"][0, 0, 0] * 255 >= 100)
    # The train order is not grouped by class, so a validation prefix sees both classes.
    train_labels = [int(label) for label in src.train_labels.as_numpy_iterator()]
    assert train_labels != sorted(train_labels)


def test_folder_split_is_deterministic_and_stable(tmp_path):
    root = tmp_path / "pets"
    spec = make_class_folder(root)
    before = load_source(spec)
    test_before = image_values(before.test)
    assert test_before == image_values(load_source(spec).test)
    write_png(root / "dog" / "new.png", np.full((6, 5, 3), 250))
    after = load_source(spec)
    assert after.num_train + after.num_test == 25
    # Adding a file moves no other file between train and test.
    assert set(image_values(after.test)) - {250} == set(test_before)


def test_folder_without_subfolders_has_no_labels(tmp_path):
    for i in range(5):
        write_png(tmp_path / f"{i}.png", np.full((4, 4), 10 * i))
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(tmp_path / "photo.JPG", quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    src = load_source(f"folder:{tmp_path}")
    assert (src.image_shape, src.num_classes, src.num_train + src.num_test) == ((4, 4, 1), None, 6)
    values = image_values(src.train) + image_values(src.test)
    assert sorted(values)[:5] == [0, 10, 20, 30, 40] and abs(max(values) - 200) <= 2
    assert "label" not in src.train.element_spec


def test_folder_errors(tmp_path):
    raises_data_error(lambda: load_source(f"folder:{tmp_path}/nope"), "does not exist")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("x")
    raises_data_error(lambda: load_source(f"folder:{tmp_path}/empty"), "has no images")

    broken = tmp_path / "broken"
    write_png(broken / "good.png", np.zeros((4, 4, 3)))
    (broken / "bad.png").write_bytes(b"definitely not a png")
    raises_data_error(lambda: load_source(f"folder:{broken}"), "bad.png", "cannot decode")

    truncated = tmp_path / "truncated"
    write_png(truncated / "good.png", np.zeros((4, 4, 3)))
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3))
    write_png(truncated / "cut.png", noise)
    (truncated / "cut.png").write_bytes((truncated / "cut.png").read_bytes()[:2000])
    raises_data_error(lambda: load_source(f"folder:{truncated}"), "cut.png")

    mixed = tmp_path / "mixed"
    write_png(mixed / "a.png", np.zeros((4, 4, 3)))
    write_png(mixed / "cls" / "b.png", np.zeros((4, 4, 3)))
    raises_data_error(lambda: load_source(f"folder:{mixed}"), "mixes images", "class subfolders")


@pytest.mark.parametrize(
    "second, described",
    [(np.zeros((5, 4, 3)), "5x4x3"), (np.zeros((4, 4)), "4x4x1")],
    ids=["size", "channels"],
)
def test_folder_mismatched_images(tmp_path, second, described):
    write_png(tmp_path / "a.png", np.zeros((4, 4, 3)))
    write_png(tmp_path / "b.png", second)
    raises_data_error(
        lambda: load_source(f"folder:{tmp_path}"),
        "a.png is 4x4x3",
        f"b.png is {described}",
        "image_size",
    )


def test_folder_image_size_allows_mismatched_images(tmp_path):
    write_png(tmp_path / "a.png", np.full((4, 4, 3), 255))
    write_png(tmp_path / "b.png", np.full((9, 7), 51))
    write_png(tmp_path / "c.png", np.full((5, 5, 3), 102))
    src = load_source(f"folder:{tmp_path}", image_size=(8, 8))
    assert src.image_shape == (8, 8, 3)
    images = [ex["image"] for ex in [*src.train.as_numpy_iterator(), *src.test.as_numpy_iterator()]]
    assert all(im.shape == (8, 8, 3) for im in images)
    # Constant images stay constant through the resize; gray becomes three equal channels.
    assert sorted(round(float(im.mean()) * 255) for im in images) == [51, 102, 255]
    assert all(np.ptp(im) < 1e-6 for im in images)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("crop", [None, (4, 4)])
def test_folder_channels_converts_every_image_whatever_the_first_file(tmp_path, channels, crop):
    """A folder of gray and colour images, the first one's mode the other: each image becomes
    `channels`, gray tiled to RGB and RGB to gray by luma, at its own size with a crop."""
    write_png(tmp_path / "a.png", np.full((4, 4, 3 if channels == 1 else 1), 90))
    write_png(tmp_path / "b.png", np.full((5 if crop else 4, 4, channels), 200))
    src = load_source(f"folder:{tmp_path}", crop=crop, channels=channels)
    assert src.image_shape == ((None, None) if crop else (4, 4)) + (channels,)
    images = [ex["image"] for ex in [*src.train.as_numpy_iterator(), *src.test.as_numpy_iterator()]]
    assert all(im.shape[-1] == channels for im in images)
    as_read = 90 / 255 if not crop else 90  # a crop run's images stay uint8 until cropped
    assert sorted(float(im.mean()) for im in images)[0] == pytest.approx(as_read, abs=1e-5)


def test_channels_other_than_gray_or_rgb_or_for_data_that_lacks_them_are_refused(tmp_path):
    write_png(tmp_path / "f" / "a.png", np.zeros((4, 4)))
    write_png(tmp_path / "f" / "b.png", np.zeros((4, 4)))
    raises_data_error(lambda: load_source(f"folder:{tmp_path / 'f'}", channels=2), "channels=2")
    x = np.zeros((3, 4, 4), np.uint8)
    spec = write_npz(tmp_path / "d.npz", x_train=x, x_test=x)
    assert load_source(spec, channels=1).image_shape == (4, 4, 1)  # already gray: accepted
    raises_data_error(lambda: load_source(spec, channels=3), "1-channel images", "folder:")


def test_image_size_resizes_npz(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (3, 4, 6, 2)).astype(np.uint8)
    src = load_source(write_npz(tmp_path / "d.npz", x_train=x, x_test=x), image_size=(8, 3))
    image = first(src.train, 1)[0]["image"]
    assert src.image_shape == (8, 3, 2) and image.shape == (8, 3, 2)
    expected = tf.image.resize(x[0].astype(np.float32) / 255.0, (8, 3), method="bilinear")
    np.testing.assert_allclose(image, expected, atol=1e-6)
    assert image.min() >= 0.0 and image.max() <= 1.0


@pytest.mark.parametrize("bad", [(0, 8), (8,), "8x8", (8.5, 8)])
def test_invalid_image_size(tmp_path, bad):
    raises_data_error(
        lambda: load_source("sprites", data_dir=str(tmp_path), image_size=bad), "image_size"
    )


def test_empty_spec_or_path():
    raises_data_error(lambda: load_source("  "), "empty dataset spec", "sprites")
    raises_data_error(lambda: load_source("folder:"), "no path after 'folder:'")
    raises_data_error(lambda: load_source("npz: "), "no path after 'npz:'")


def test_data_error_is_one_line_value_error():
    error = DataError("first\nsecond")
    assert isinstance(error, ValueError) and str(error) == "first second"


# --- idx -----------------------------------------------------------------------------------------


def idx_bytes(array, type_code=0x08):
    """An IDX file's bytes: magic (0, 0, type, rank), big-endian uint32 dims, then the data."""
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.tobytes()


TRAIN_X, TRAIN_Y = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_X, TEST_Y = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
IDX_NAMES = {"x_train": TRAIN_X, "y_train": TRAIN_Y, "x_test": TEST_X, "y_test": TEST_Y}


def write_idx_folder(root, gzipped=()):
    """A tiny MNIST-layout folder; `gzipped` names the arrays written as .gz. -> (spec, arrays)."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (5, 4, 3), dtype=np.uint8),
        "y_train": np.array([0, 3, 1, 3, 2], np.uint8),
        "x_test": rng.integers(0, 256, (3, 4, 3), dtype=np.uint8),
        "y_test": np.array([6, 0, 1], np.uint8),
    }
    root.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_NAMES.items():
        raw = idx_bytes(arrays[key])
        if key in gzipped:
            (root / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (root / name).write_bytes(raw)
    return f"idx:{root}", arrays


@pytest.mark.parametrize("gzipped", [(), ("x_train", "y_test")], ids=["plain", "some_gz"])
def test_idx_round_trips_images_labels_and_order(tmp_path, gzipped):
    spec, arrays = write_idx_folder(tmp_path / "digits", gzipped)
    src = load_source(spec)
    assert (src.image_shape, src.num_train, src.num_test) == ((4, 3, 1), 5, 3)
    assert src.num_classes == 7  # the largest label, 6, is in the test split only
    for split, ds in (("train", src.train), ("test", src.test)):
        examples = list(ds.as_numpy_iterator())
        images = np.stack([ex["image"][..., 0] for ex in examples])
        np.testing.assert_array_equal(np.round(images * 255), arrays[f"x_{split}"])
        assert [int(ex["label"]) for ex in examples] == arrays[f"y_{split}"].tolist()
        assert examples[0]["label"].dtype == np.int64
    assert list(src.train_labels.as_numpy_iterator()) == [0, 3, 1, 3, 2]


def test_idx_prefers_the_plain_file_and_resizes(tmp_path):
    spec, _ = write_idx_folder(tmp_path)
    # A broken .gz beside a good plain file is never opened.
    (tmp_path / f"{TRAIN_X}.gz").write_bytes(b"not gzip")
    src = load_source(spec, image_size=(8, 6))
    assert src.image_shape == (8, 6, 1) and first(src.train, 1)[0]["image"].shape == (8, 6, 1)


IDX_ERRORS = {
    "not_idx": ({TRAIN_X: b"PK\x03\x04 a zip"}, ["train-images-idx3-ubyte", "not an IDX file"]),
    "empty_file": ({TEST_Y: b""}, ["t10k-labels-idx1-ubyte", "not an IDX file"]),
    "gzip_named_plain": (
        {TEST_X: gzip.compress(idx_bytes(np.zeros((3, 4, 3), np.uint8)))},
        ["t10k-images-idx3-ubyte is gzip-compressed", ".gz"],
    ),
    "element_type": (
        {TRAIN_X: idx_bytes(np.zeros((5, 4, 3), ">f4"), type_code=0x0D)},
        ["train-images-idx3-ubyte holds float32", "uint8"],
    ),
    "image_rank": (
        {TRAIN_X: idx_bytes(np.zeros((5, 12), np.uint8))},
        ["train-images-idx3-ubyte has rank 2", "rank 3"],
    ),
    "label_rank": (
        {TRAIN_Y: idx_bytes(np.zeros((5, 1), np.uint8))},
        ["train-labels-idx1-ubyte has rank 2", "rank 1"],
    ),
    "truncated_header": (
        {TRAIN_X: bytes([0, 0, 8, 3, 0, 0])},
        ["train-images-idx3-ubyte is truncated inside its header"],
    ),
    "truncated_data": (
        {TRAIN_X: idx_bytes(np.zeros((5, 4, 3), np.uint8))[:-7]},
        ["train-images-idx3-ubyte is truncated", "5x4x3"],
    ),
    "trailing_bytes": (
        {TEST_Y: idx_bytes(np.zeros(3, np.uint8)) + b"\0"},
        ["t10k-labels-idx1-ubyte is longer than its header says"],
    ),
    "corrupt_gzip": (
        {f"{TRAIN_X}.gz": gzip.compress(idx_bytes(np.zeros((5, 4, 3), np.uint8)))[:-10]},
        ["train-images-idx3-ubyte.gz is not a readable gzip file"],
    ),
    "label_count": (
        {TRAIN_Y: idx_bytes(np.zeros(4, np.uint8))},
        ["train-labels-idx1-ubyte has 4 labels but train-images-idx3-ubyte has 5 images"],
    ),
    "no_images": (
        {
            TEST_X: idx_bytes(np.zeros((0, 4, 3), np.uint8)),
            TEST_Y: idx_bytes(np.zeros(0, np.uint8)),
        },
        ["t10k-images-idx3-ubyte holds no images"],
    ),
    "split_sizes": (
        {TEST_X: idx_bytes(np.zeros((3, 5, 5), np.uint8))},
        ["train images are 4x3 but test images are 5x5"],
    ),
    "missing_files": (
        {TRAIN_Y: None, TEST_X: None},
        ["has no train-labels-idx1-ubyte or t10k-images-idx3-ubyte (plain or .gz)", "make data"],
    ),
}


@pytest.mark.parametrize("case", sorted(IDX_ERRORS))
def test_idx_broken_folders(tmp_path, case):
    """Each case replaces files of a good plain folder: {file name: bytes, or None to delete}."""
    replacements, fragments = IDX_ERRORS[case]
    spec, _ = write_idx_folder(tmp_path)
    for name, raw in replacements.items():
        (tmp_path / name.removesuffix(".gz")).unlink()
        if raw is not None:
            (tmp_path / name).write_bytes(raw)
    raises_data_error(lambda: load_source(spec), *fragments)


def test_idx_missing_folder_or_path(tmp_path):
    raises_data_error(lambda: load_source(f"idx:{tmp_path}/nope"), "nope does not exist", "idx:")
    raises_data_error(lambda: load_source("idx:"), "no path after 'idx:'")


# --- ops -----------------------------------------------------------------------------------------


def test_ops_eagerly_and_inside_tf_data():
    uint8 = np.array([[[0], [255]], [[51], [102]]], np.uint8)
    eager = data.to_unit_float(uint8)
    assert eager.dtype == tf.float32
    np.testing.assert_allclose(eager.numpy()[..., 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    assert data.to_unit_float(np.array([65535], np.uint16)).numpy() == [1.0]
    ds = tf.data.Dataset.from_tensors(uint8).map(
        lambda im: data.resize(data.to_unit_float(im), (4, 4))
    )
    in_graph = next(iter(ds)).numpy()
    np.testing.assert_allclose(in_graph, data.resize(eager, (4, 4)).numpy(), atol=1e-7)
    assert in_graph.shape == (4, 4, 1) and in_graph.min() >= 0.0 and in_graph.max() <= 1.0


# --- pipelines -----------------------------------------------------------------------------------


@pytest.fixture
def coded_source(tmp_path):
    """50 train / 7 test images whose value is their index; label = index % 5."""
    spec = write_npz(
        tmp_path / "coded.npz",
        x_train=coded_images(50),
        y_train=np.arange(50) % 5,
        x_test=coded_images(7, offset=100),
        y_test=np.arange(7) % 5,
    )
    return load_source(spec)


def values_of(batches):
    """Identifying values of every image in a batched images-only dataset, in order."""
    return [int(round(v * 255)) for batch in batches.as_numpy_iterator() for v in batch[:, 0, 0, 0]]


def test_pipeline_batches_and_split_sizes(coded_source):
    pipes = make_pipelines(coded_source, batch_size=8, validation_fraction=0.2)
    assert (pipes.num_train, pipes.num_validation, pipes.image_shape) == (40, 10, (4, 4, 1))
    assert pipes.train.element_spec == tf.TensorSpec((None, 4, 4, 1), tf.float32)
    shapes = [batch.shape for batch in pipes.train.as_numpy_iterator()]
    assert shapes == [(8, 4, 4, 1)] * 5
    # Validation is the first 20% of train in its fixed order; train is the rest.
    assert values_of(pipes.validation) == list(range(10))
    assert sorted(values_of(pipes.train)) == list(range(10, 50))
    assert values_of(pipes.test) == list(range(100, 107))
    assert int(pipes.validation.cardinality()) == 2


def test_pipeline_validation_has_at_least_one_example(coded_source):
    pipes = make_pipelines(coded_source, batch_size=64, validation_fraction=0.001)
    assert (pipes.num_train, pipes.num_validation) == (49, 1)
    assert values_of(pipes.validation) == [0]


def test_train_reshuffles_each_epoch_and_repeats_per_seed(coded_source):
    pipes = make_pipelines(coded_source, batch_size=16, seed=3)
    epoch1, epoch2 = values_of(pipes.train), values_of(pipes.train)
    assert sorted(epoch1) == sorted(epoch2) and epoch1 != epoch2
    again = make_pipelines(coded_source, batch_size=16, seed=3)
    assert values_of(again.train) == epoch1
    assert values_of(make_pipelines(coded_source, batch_size=16, seed=4).train) != epoch1


def test_normal_classes_filter_train_and_validation_only(coded_source):
    pipes = make_pipelines(coded_source, batch_size=4, normal_classes=[1, 3])
    kept = [v for v in range(50) if v % 5 in (1, 3)]
    assert pipes.num_train + pipes.num_validation == len(kept) == 20
    assert values_of(pipes.validation) == kept[: pipes.num_validation]
    assert sorted(values_of(pipes.train)) == kept[pipes.num_validation :]
    assert values_of(pipes.test) == list(range(100, 107))
    assert int(pipes.train.cardinality()) == -(-pipes.num_train // 4)


def test_normal_classes_on_tfds_source_count_labels_only(sprites_source):
    pipes = make_pipelines(sprites_source, batch_size=500, normal_classes=[2])
    labels = np.array([int(ex["label"]) for ex in sprites_source.train.as_numpy_iterator()])
    total = int((labels == 2).sum())
    assert pipes.num_train + pipes.num_validation == total
    assert sum(len(batch) for batch in pipes.train.as_numpy_iterator()) == pipes.num_train


def test_pipeline_errors(coded_source, tmp_path):
    unlabelled = load_source(
        write_npz(tmp_path / "u.npz", x_train=coded_images(4), x_test=coded_images(2))
    )
    raises_data_error(
        lambda: make_pipelines(unlabelled, batch_size=2, normal_classes=[0]), "needs labels"
    )
    raises_data_error(
        lambda: make_pipelines(coded_source, batch_size=2, normal_classes=[5]),
        "[5] out of range",
        "0 to 4",
    )
    raises_data_error(
        lambda: make_pipelines(coded_source, batch_size=2, normal_classes=[]), "empty"
    )
    absent = load_source(
        write_npz(
            tmp_path / "a.npz",
            x_train=coded_images(4),
            y_train=np.zeros(4, int),
            x_test=coded_images(2),
            y_test=np.array([0, 1]),
        )
    )
    raises_data_error(
        lambda: make_pipelines(absent, batch_size=2, normal_classes=[1]), "no training examples"
    )
    raises_data_error(lambda: make_pipelines(coded_source, batch_size=0), "batch_size")
    raises_data_error(
        lambda: make_pipelines(coded_source, batch_size=2, validation_fraction=1.0),
        "validation_fraction",
    )


def test_drop_remainder_keeps_only_full_batches(coded_source):
    # Multi-replica training drops partial batches: a replica must never get an empty slice.
    pipes = make_pipelines(coded_source, batch_size=4, validation_fraction=0.2, drop_remainder=True)
    for split in (pipes.train, pipes.validation, pipes.test):
        assert {batch.shape[0] for batch in split.as_numpy_iterator()} == {4}
    assert values_of(pipes.validation) == list(range(8))
    assert values_of(pipes.test) == [100, 101, 102, 103]


def test_epoch_stream_order_depends_on_the_epoch_alone(coded_source):
    pipes = make_pipelines(coded_source, batch_size=8, validation_fraction=0.2, seed=3)
    steps = pipes.steps_per_pass  # 40 train images / 8
    assert steps == 5
    full = values_of(pipes.epochs(0, 3))
    per_epoch = [full[i * 40 : (i + 1) * 40] for i in range(4)]  # 3 epochs + 1 spare
    assert all(sorted(epoch) == list(range(10, 50)) for epoch in per_epoch)
    assert per_epoch[0] != per_epoch[1] != per_epoch[2]
    # A run resumed at epoch 2 sees what an uninterrupted run sees from epoch 2 on.
    assert values_of(pipes.epochs(2, 3)) == full[80:]
    # Another seed, another order; an epoch longer than a pass runs into a second pass.
    other = make_pipelines(coded_source, batch_size=8, validation_fraction=0.2, seed=4)
    assert values_of(other.epochs(0, 1))[:40] != per_epoch[0]
    long = values_of(pipes.epochs(0, 1, steps_per_epoch=7))
    assert len(long) == 2 * 7 * 8 and long[:40] == per_epoch[0]
