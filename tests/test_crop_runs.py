"""evaluate, embed and export of a run trained on crops (--crop): they read its crop from
config.json and measure the fixed validation and test crops that training measured, the crops
of one image in one part of the anomaly score's split; a run without crop reads as before."""

import json
import types

import numpy as np
import pytest
from conftest import run_cli, write_png

from convae_tf import data
from convae_tf.artifacts import run_folder
from convae_tf.deploy import export
from convae_tf.errors import ConfigError
from convae_tf.evaluation import splits
from convae_tf.models import anomaly

CROP = (8, 8)
PER_IMAGE = 2


def mixed_size_folder(root, per_class=12, labelled=True, mode="RGB"):
    """PNGs of random pixels, sizes 12x13 to ~23x24 (every window unique), in two class
    subfolders (labels 0 and 1) or none; all of one mode."""
    for i in range(2 * per_class):
        rng = np.random.default_rng(i)
        height, width = 12 + i // 2, 13 + (5 * i) % 11
        shape = (height, width) if mode == "L" else (height, width, 3)
        sub = ("cat", "dog")[i % 2] + "/" if labelled else ""
        write_png(root / f"{sub}{i:02d}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    return f"folder:{root}"


def crop_run(tmp_path, spec, channels=3, **train):
    """A Run as evaluate and embed load it, of a model of crop size that is never called."""
    train = {"dataset": spec, "crop": list(CROP), "crops_per_image": PER_IMAGE, **train}
    model = types.SimpleNamespace(image_shape=(*CROP, channels))
    return run_folder.Run(tmp_path, {"train": train}, model)


def arrays(batches):
    return np.concatenate(list(batches.as_numpy_iterator()))


@pytest.fixture
def pets(tmp_path):
    return mixed_size_folder(tmp_path / "pets")


def test_validation_and_test_are_the_crops_training_measured(tmp_path, pets):
    run = crop_run(tmp_path, pets, validation_fraction=0.5, normal_classes=[1])
    source = splits.load_source(run)
    assert source.image_shape == (None, None, 3)
    pipes = data.make_pipelines(
        source,
        batch_size=5,
        seed=3,
        validation_fraction=0.5,
        normal_classes=[1],
        crop=CROP,
        crops_per_image=PER_IMAGE,
    )
    assert splits.validation_count(run, source) == pipes.num_validation > PER_IMAGE
    for split, expected in (("validation", pipes.validation), ("test", pipes.test)):
        images, labels = splits.to_arrays(splits.split_examples(run, source, split))
        np.testing.assert_array_equal(images, arrays(expected))
        # Each crop carries its image's label: the crops of one image in a row.
        images_labels = [int(ex["label"]) for ex in source.test.as_numpy_iterator()]
        if split == "validation":
            images_labels = [1] * (pipes.num_validation // PER_IMAGE)
        np.testing.assert_array_equal(labels, np.repeat(images_labels, PER_IMAGE))
    train, _ = splits.to_arrays(splits.split_examples(run, source, "train"))
    assert train.shape == (splits.train_count(run, source), *CROP, 3)
    assert splits.train_count(run, source) == PER_IMAGE * source.num_train


def test_the_probe_sample_of_a_crop_run_is_drawn_from_the_train_crops(tmp_path, pets):
    """Decoding the drawn images only, it gives what a draw over every train crop gives."""
    run = crop_run(tmp_path, pets)
    source = splits.load_source(run)
    images, labels, chosen = splits.sample_train(run, source, 7, seed=2)
    train = splits.split_examples(run, source, "train")
    expected = splits.sample_arrays(train, splits.train_count(run, source), 7, seed=2)
    assert images.shape == (7, *CROP, 3)
    np.testing.assert_array_equal(chosen, expected[2])
    np.testing.assert_array_equal(images, expected[0])
    np.testing.assert_array_equal(labels, expected[1])


def test_a_crop_run_on_other_data_is_refused_with_the_crops_shape(tmp_path, pets):
    run = crop_run(tmp_path, pets, channels=1)
    with pytest.raises(ConfigError, match=r"crops of shape \(8, 8, 3\)"):
        splits.load_source(run)


def test_a_run_without_crop_reads_whole_images_as_before():
    old = data.PipelineOptions.of_run({"dataset": "sprites", "binarize": True})
    assert old.crop is None and old.binarize and old == data.PipelineOptions(binarize=True)
    run = types.SimpleNamespace(train={"crop": None, "crops_per_image": 8})
    assert splits.crops_per_image(run) == 1
    cropped = data.PipelineOptions.of_run({"crop": [8, 6], "crops_per_image": 3})
    assert (cropped.crop, cropped.crops_per_image) == ((8, 6), 3)


def test_the_crops_of_one_image_stay_in_one_part_of_the_score_split():
    whole = anomaly.HeldOutParts(30)
    np.testing.assert_array_equal(whole.fit_indices(), np.arange(0, 30, 2))
    parts = anomaly.HeldOutParts(40, per_image=4)
    fit, calibration = parts.fit_indices(), parts.calibration_indices()
    assert not parts.shared and len(fit) == len(calibration) == 20
    assert not set(fit // 4) & set(calibration // 4)  # no image in both
    assert set(fit // 4) == {0, 2, 4, 6, 8}
    # Every crop from one image: nothing to hold out, said so.
    single = anomaly.HeldOutParts(24, per_image=24)
    assert single.shared and "the crops of one image" in single.calibration_method()


def test_export_holds_out_the_crops_training_measured(tmp_path):
    spec = mixed_size_folder(tmp_path / "pets", per_class=16)
    train = {"dataset": spec, "crop": list(CROP), "crops_per_image": PER_IMAGE}
    train |= {"validation_fraction": 0.5, "seed": 4}
    held_out = export.HeldOutData({"train": train}, (*CROP, 3), None, calibration=5)
    run = crop_run(tmp_path, spec, **train)
    source = splits.load_source(run)
    validation, _ = splits.to_arrays(splits.split_examples(run, source, "validation"))
    test, labels = splits.to_arrays(splits.split_examples(run, source, "test"))
    parts = anomaly.HeldOutParts(len(validation), PER_IMAGE)
    assert parts == held_out.parts and not parts.shared
    np.testing.assert_array_equal(held_out.parity, validation[: export.PARITY_IMAGES])
    np.testing.assert_array_equal(held_out.threshold, validation[parts.calibration_indices()])
    np.testing.assert_array_equal(held_out.test, test)
    np.testing.assert_array_equal(held_out.test_labels, labels)
    np.testing.assert_array_equal(arrays(held_out.test_normal.batch(64)), test)
    assert held_out.calibration.shape == (5, *CROP, 3)


@pytest.mark.slow
def test_train_evaluate_embed_and_export_a_run_on_crops_of_photos(tmp_path):
    """The command line end to end on a folder of photos of mixed sizes, gray and colour, the
    first gray: --channels=1 makes them all gray, and evaluate and export read it back."""
    photos, workdir = tmp_path / "photos", tmp_path / "run"
    for i in range(12):
        rng = np.random.default_rng(i)
        size = ((40, 56), (64, 48), (33, 70), (50, 50))[i % 4] + ((3,) if i % 3 else ())
        write_png(photos / f"{i:02d}.png", rng.integers(0, 256, size, dtype=np.uint8))
    # The conv bottleneck's code fills the 4x4 grid of a 16x16 crop after two blocks: 32 = 2 x 16.
    trained = run_cli(
        "train",
        "--model=dae",
        f"--dataset=folder:{photos}",
        "--crop=16,16",
        "--crops_per_image=2",
        "--model_args=bottleneck=conv",
        "--channels=1",
        "--latent_dim=32",
        "--epochs=1",
        "--steps_per_epoch=2",
        "--batch_size=4",
        f"--workdir={workdir}",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    evaluated = run_cli(
        "evaluate",
        f"--workdir={workdir}",
        "--iw_examples=4",
        "--iw_samples=2",
        "--probe_examples=8",
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads((workdir / "metrics.json").read_text())
    source = data.load_source(f"folder:{photos}", crop=(16, 16), channels=1)
    assert metrics["num_examples"] == 2 * source.num_test
    assert metrics["image_shape"] == [16, 16, 1]
    embedded = run_cli("embed", f"--workdir={workdir}", f"--output={tmp_path / 'codes.npz'}")
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    assert np.load(tmp_path / "codes.npz")["codes"].shape == (2 * source.num_test, 32)
    out = tmp_path / "exported"
    exported = run_cli("export", f"--workdir={workdir}", f"--out={out}", "--quantize=float32")
    assert exported.returncode == 0, exported.stderr[-3000:]
    card = json.loads((out / "1" / "model_card.json").read_text())
    pipes = data.make_pipelines(source, batch_size=4, crop=(16, 16), crops_per_image=2)
    assert card["parity"]["images"] == pipes.num_validation  # the validation photos' crops
