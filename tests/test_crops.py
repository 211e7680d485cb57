"""Training on crops (--crop): a folder of photos of mixed sizes and modes gives crops of one
shape, random ones drawn from (seed, epoch) for training (so a resumed run sees the crops of an
uninterrupted one), fixed ones for validation and test; a photo smaller than the crop is named."""

import json

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from convae_tf import data
from convae_tf.data import DataError, crops, load_source, make_pipelines
from convae_tf.data.image_files import PREFLIGHT_FILES
from convae_tf.errors import ConfigError
from convae_tf.training import config

CROP = (16, 16)


def photo(index: int, height: int, width: int, mode: str = "RGB") -> np.ndarray:
    """Random pixels, seeded by the index: every window of it is unique."""
    rng = np.random.default_rng(index)
    shape = (height, width) if mode == "L" else (height, width, 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def photo_folder(root, count=12, first_mode="RGB"):
    """`count` PNGs of sizes 20x24 to ~53x57, every third one grey (the first is `first_mode`)."""
    root.mkdir(parents=True, exist_ok=True)
    pixels = {}
    for i in range(count):
        mode = first_mode if i == 0 else ("L" if i % 3 == 0 else "RGB")
        pixels[i] = photo(i, 20 + 3 * i, 24 + 3 * i, mode)
        Image.fromarray(pixels[i], mode).save(root / f"p{i:02d}.png")
    return f"folder:{root}", pixels


def as_colour(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels[..., None], 3, axis=-1) if pixels.ndim == 2 else pixels


def is_window_of_some(crop: np.ndarray, photos) -> bool:
    """Whether `crop` (float in [0, 1]) is a window of one of `photos` (uint8)."""
    target = np.round(crop * 255).astype(np.uint8)
    for pixels in photos:
        windows = np.lib.stride_tricks.sliding_window_view(as_colour(pixels), target.shape)
        if (windows == target).all(axis=(-3, -2, -1)).any():
            return True
    return False


def arrays(batches) -> np.ndarray:
    return np.concatenate(list(batches.as_numpy_iterator()))


@pytest.fixture
def photos(tmp_path):
    spec, pixels = photo_folder(tmp_path / "photos")
    return load_source(spec, crop=CROP), pixels


def crop_pipes(source, **options):
    options = {"batch_size": 8, "seed": 1, "crop": CROP, "crops_per_image": 3, **options}
    return make_pipelines(source, **options)


def test_a_folder_of_mixed_sizes_and_modes_gives_crops_of_one_shape(photos):
    source, pixels = photos
    assert source.image_shape == (None, None, 3)  # the first file is colour
    pipes = crop_pipes(source)
    assert pipes.image_shape == (*CROP, 3)
    images = source.num_train
    assert (pipes.num_train, pipes.num_validation) == (3 * (images - 1), 3)
    train = arrays(pipes.epochs(0, 1).take(pipes.steps_per_pass))
    assert train.shape == (pipes.num_train, *CROP, 3) and train.dtype == np.float32
    validation, test = arrays(pipes.validation), arrays(pipes.test)
    assert validation.shape == (3, *CROP, 3) and test.shape == (3 * source.num_test, *CROP, 3)
    # Crops, not resized photos: each is a window of a photo (grey ones made colour).
    assert all(is_window_of_some(crop, pixels.values()) for crop in [*train[:6], *validation])


def test_train_crops_depend_on_seed_and_epoch_alone(photos):
    source, _ = photos
    pipes = crop_pipes(source)

    def epoch(pipelines, e):
        return arrays(pipelines.epochs(e, e + 1).take(pipelines.steps_per_pass))

    first = epoch(pipes, 0)
    np.testing.assert_array_equal(epoch(crop_pipes(source), 0), first)  # rebuilt: the same
    assert not np.array_equal(epoch(pipes, 1), first)  # another epoch, other crops
    assert not np.array_equal(epoch(crop_pipes(source, seed=2), 0), first)
    # The crops of one photo are mixed among those of others (a shuffle buffer of crops).
    unshuffled = arrays(crop_pipes(source, shuffle_buffer=1).epochs(0, 1).take(2))
    assert not np.array_equal(unshuffled, first[:16])


def test_a_resumed_run_sees_the_crops_of_an_uninterrupted_one(photos):
    source, _ = photos
    pipes = crop_pipes(source)
    steps = 4
    uninterrupted = arrays(pipes.epochs(0, 3, steps).take(3 * steps))
    resumed = arrays(pipes.epochs(2, 3, steps).take(steps))
    np.testing.assert_array_equal(resumed, uninterrupted[-len(resumed) :])


def test_validation_and_test_crops_are_fixed(photos):
    source, _ = photos
    cached, streamed = crop_pipes(source), crop_pipes(source, seed=5, cache_budget_mb=0)
    validation = arrays(cached.validation)
    np.testing.assert_array_equal(arrays(cached.validation), validation)  # every epoch
    # Whatever the run's seed, cached or read again: every run is measured on the same crops.
    np.testing.assert_array_equal(arrays(streamed.validation), validation)
    np.testing.assert_array_equal(arrays(streamed.test), arrays(cached.test))
    assert len({crop.tobytes() for crop in validation}) == len(validation)  # distinct crops


def test_crops_of_same_size_sources_and_their_bounds(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (20, 24, 20, 1), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x_train=images, x_test=images[:4])
    source = load_source(f"npz:{tmp_path / 'a.npz'}")
    pipes = make_pipelines(source, batch_size=4, crop=(8, 12), crops_per_image=2)
    assert pipes.image_shape == (8, 12, 1) and arrays(pipes.validation).shape == (4, 8, 12, 1)
    with pytest.raises(DataError, match=r"crop=\(25, 8\) is larger than the 24x20 images"):
        make_pipelines(source, batch_size=4, crop=(25, 8))
    for bad in ((0, 8), (8,), (8.0, 8), "8,8"):
        with pytest.raises(DataError, match="crop="):
            make_pipelines(source, batch_size=4, crop=bad)
    with pytest.raises(DataError, match="crops_per_image"):
        make_pipelines(source, batch_size=4, crop=(8, 8), crops_per_image=0)


def test_a_photo_smaller_than_the_crop_is_named_with_both_sizes(tmp_path):
    root = tmp_path / "photos"
    spec, _ = photo_folder(root, count=PREFLIGHT_FILES + 4)
    # Sorted first: the preflight meets it at load.
    Image.fromarray(photo(99, 10, 40)).save(root / "a_small.png")
    with pytest.raises(DataError, match=r"a_small.png is 10x40, smaller than the crop 16x16"):
        load_source(spec, crop=CROP)
    (root / "a_small.png").unlink()
    # Sorted last: met while streaming, in the split that holds it.
    Image.fromarray(photo(99, 40, 12, "L"), "L").save(root / "zz_small.png")
    source = load_source(spec, crop=CROP)
    pipes = crop_pipes(source)
    with pytest.raises(DataError) as caught, data.named_file_errors():
        arrays(pipes.validation), arrays(pipes.test), arrays(pipes.epochs(0, 1))
    message = str(caught.value)
    assert "zz_small.png is 40x12, smaller than the crop 16x16" in message
    assert "--crop" in message and "\n" not in message


def test_without_crop_mixed_sizes_still_fail_and_point_to_crop(tmp_path):
    spec, _ = photo_folder(tmp_path / "photos", count=4)
    with pytest.raises(DataError, match=r"image_size.*--crop"):
        load_source(spec)
    with pytest.raises(DataError, match="--crop"):
        make_pipelines(load_source(spec, crop=CROP), batch_size=4)  # crops, but no crop asked


def test_crop_positions_are_stateless_and_drawn_per_image():
    image = photo(0, 30, 40)
    fixed = [crops._crops_of(image, 9_002, 0, (8, 8), 4).numpy() for _ in range(2)]
    np.testing.assert_array_equal(*fixed)
    other = crops._crops_of(image, 9_002, 1, (8, 8), 4).numpy()
    assert not np.array_equal(other, fixed[0]) and fixed[0].dtype == np.uint8


def test_the_config_refuses_bad_crop_values():
    for field, value, word in (
        ("crop", (0, 8), "--crop"),
        ("crop", (8, 8, 8), "--crop"),
        ("crop", (8.5, 8), "--crop"),
        ("crops_per_image", 0, "--crops_per_image"),
    ):
        cfg = config.get_config()
        cfg[field] = value
        with pytest.raises(ConfigError, match=word):
            config.validate(cfg)
    cfg = config.get_config()
    cfg.crop = (32, 32)
    assert config.validate(cfg).crops_per_image == 8


@pytest.mark.slow
def test_train_a_blind_denoiser_on_crops_of_photos_from_the_command_line(tmp_path):
    spec, _ = photo_folder(tmp_path / "photos", count=10)
    workdir = tmp_path / "run"
    result = run_cli(
        "train",
        "--model=dae",
        f"--dataset={spec}",
        "--crop=16,16",
        "--crops_per_image=4",
        "--model_args=gaussian_std=0,0.2",
        "--model_args=bottleneck=conv",
        "--model_args=filters=4,8",
        "--latent_dim=32",
        "--batch_size=8",
        "--epochs=1",
        "--steps_per_epoch=3",
        "--test_examples=8",
        f"--workdir={workdir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "validation crops (4 per image) of shape (16, 16, 3)" in result.stdout
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["image_shape"] == [16, 16, 3] and saved["train"]["crop"] == [16, 16]
    assert saved["model_config"]["gaussian_std"] == [0.0, 0.2]
    assert (workdir / "model.keras").is_file()
