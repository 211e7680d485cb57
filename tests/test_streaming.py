"""Image folders read lazily: files are listed at load and decoded as the splits stream; bad
files are named (or skipped and counted); the train order stays a seeded full permutation
whether or not a split is cached; the shuffle buffer and the cache budget are honoured."""

import hashlib
import os
import signal
import subprocess
import sys
import time
import tracemalloc
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    ENV,
    PER_CLASS,
    assert_one_line_error,
    batch_values,
    class_folder,
    constant_png,
    labelled,
    run_cli,
    tiny_run_config,
    values,
)
from PIL import Image

from convae_tf import data
from convae_tf.artifacts import run_folder
from convae_tf.data import DataError, image_files, load_source, make_pipelines
from convae_tf.data.pipeline import CacheBudget
from convae_tf.data.prepare import prepare_records
from convae_tf.errors import ConfigError
from convae_tf.evaluation import splits
from convae_tf.training import config, train


# More files than the preflight decodes, so that files sorted last are only met while streaming.
def expected_split(root):
    """The split the eager loader made, from first principles: each file's relative path
    hashed (sha256, first 8 bytes, as a fraction of 2**64): below 0.2 is test; each split in
    hash order; labels by sorted class folder."""
    files = sorted(p for p in root.rglob("*.png"))

    def unit_hash(path):
        digest = hashlib.sha256(path.relative_to(root).as_posix().encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    ordered = sorted(files, key=unit_hash)
    value = {f: int(np.asarray(Image.open(f)).reshape(-1)[0]) for f in files}
    label = {f: ["cat", "dog"].index(f.parent.name) for f in files}
    test = [(value[f], label[f]) for f in ordered if unit_hash(f) < 0.2]
    train = [(value[f], label[f]) for f in ordered if unit_hash(f) >= 0.2]
    return train, test


# --- loading lists, streaming decodes -------------------------------------------------------------


def test_split_order_and_labels_are_those_of_the_eager_loader(tmp_path):
    root = tmp_path / "pets"
    src = load_source(class_folder(root))
    train, test = expected_split(root)
    assert 0 < len(test) < len(train)
    assert (src.num_train, src.num_test, src.num_classes) == (len(train), len(test), 2)
    assert labelled(src.train) == train
    assert labelled(src.test) == test
    assert list(src.train_labels.as_numpy_iterator()) == [label for _, label in train]


def test_a_corrupt_file_fails_the_iteration_not_the_load_and_is_named(tmp_path):
    root = tmp_path / "pets"
    spec = class_folder(root)
    bad = root / "dog" / "zz_corrupt.png"  # sorted last: beyond the preflight
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    src = load_source(spec)  # lists the file, decodes nothing of it
    assert src.num_train + src.num_test == 2 * PER_CLASS + 1
    split = src.train if _in_train(root, bad) else src.test
    with pytest.raises(DataError, match="zz_corrupt.png") as caught, data.named_file_errors():
        values(split)
    assert "--bad_files=skip" in str(caught.value) and "\n" not in str(caught.value)


def test_skip_mode_drops_bad_files_and_reports_each_once(tmp_path):
    root = tmp_path / "pets"
    spec = class_folder(root)
    bad = [root / "dog" / "zz_corrupt.png", root / "dog" / "zz_empty.png"]
    bad[0].write_bytes(b"garbage")
    bad[1].write_bytes(b"")
    src = load_source(spec, bad_files="skip")
    assert src.skipped.summary() is None
    seen = values(src.train) + values(src.test)
    assert sorted(seen) == sorted([*range(PER_CLASS), *range(100, 100 + PER_CLASS)])
    values(src.train) + values(src.test)  # met again: still counted once
    assert sorted(src.skipped.paths) == sorted(str(p) for p in bad)
    assert src.skipped.summary().startswith("skipped 2 unreadable image file(s): ")


def test_a_file_of_another_shape_fails_when_met_naming_both_shapes(tmp_path):
    root = tmp_path / "pets"
    spec = class_folder(root)
    odd = root / "dog" / "zz_odd.png"
    constant_png(odd, 7, shape=(9, 5, 3))
    src = load_source(spec)
    split = src.train if _in_train(root, odd) else src.test
    shapes = r"6x5x3 but .*zz_odd.png is 9x5x3.*image_size"
    with pytest.raises(DataError, match=shapes), data.named_file_errors():
        values(split)
    # With a target size, every file is resized (and takes the first file's channels).
    resized = load_source(spec, image_size=(4, 4))
    assert resized.image_shape == (4, 4, 3)
    assert len(values(resized.train) + values(resized.test)) == 2 * PER_CLASS + 1


def test_with_a_size_grey_and_alpha_files_take_the_first_files_channels(tmp_path):
    constant_png(tmp_path / "a.png", 200, shape=(4, 4, 3))
    constant_png(tmp_path / "b.png", 50, shape=(6, 6))  # grey
    Image.fromarray(np.full((5, 5, 4), 90, np.uint8), "RGBA").save(tmp_path / "c.png")
    src = load_source(f"folder:{tmp_path}", image_size=(3, 3))
    images = [ex["image"] for ex in [*src.train.as_numpy_iterator(), *src.test.as_numpy_iterator()]]
    assert all(im.shape == (3, 3, 3) for im in images)
    assert sorted(round(float(im.mean()) * 255) for im in images) == [50, 90, 200]


def _unit_hash(root, path):
    digest = hashlib.sha256(path.relative_to(root).as_posix().encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _in_train(root, path):
    return _unit_hash(root, path) >= 0.2


# --- the train order ---------------------------------------------------------------------------


@pytest.fixture
def pets(tmp_path):
    return load_source(class_folder(tmp_path / "pets"))


def one_pass(pipes, epoch):
    return batch_values(pipes.epochs(epoch, epoch + 1).take(pipes.steps_per_pass))


def test_each_epoch_is_a_seeded_full_permutation_cached_or_streamed(pets):
    streamed = make_pipelines(pets, batch_size=4, seed=3, cache_budget_mb=0)
    cached = make_pipelines(pets, batch_size=4, seed=3)
    train_values = values(pets.train)[streamed.num_validation :]
    first = one_pass(streamed, 0)
    assert sorted(first) == sorted(train_values) and first != train_values
    assert one_pass(streamed, 0) == first  # reproducible
    assert one_pass(streamed, 1) != first  # another epoch, another order
    # Shuffling file references gives exactly the order of shuffling cached images.
    assert one_pass(cached, 0) == first and one_pass(cached, 1) == one_pass(streamed, 1)
    other_seed = make_pipelines(pets, batch_size=4, seed=4, cache_budget_mb=0)
    assert one_pass(other_seed, 0) != first


def test_a_resumed_epoch_sees_the_batches_of_an_uninterrupted_run(pets):
    pipes = make_pipelines(pets, batch_size=4, seed=0, cache_budget_mb=0)
    steps = 5
    uninterrupted = batch_values(pipes.epochs(0, 3, steps).take(3 * steps))
    resumed = batch_values(pipes.epochs(2, 3, steps).take(steps))
    assert resumed == uninterrupted[-len(resumed) :]


def test_skipped_files_do_not_shift_epochs(tmp_path):
    root = tmp_path / "pets"
    spec = class_folder(root)
    # A bad train file late in the order (not in the validation prefix).
    bad = next(
        p
        for p in (root / "dog" / f"zz_corrupt_{k}.png" for k in range(100))
        if _unit_hash(root, p) > 0.5
    )
    bad.write_bytes(b"garbage")
    src = load_source(spec, bad_files="skip")
    num_train = make_pipelines(src, batch_size=4).num_train
    # Batches of num_train - 1: a full pass is 2 batches, one with the bad file skipped.
    pipes = make_pipelines(src, batch_size=num_train - 1, cache_budget_mb=0)
    assert pipes.steps_per_pass == 2
    assert len(list(pipes.shuffled_images(0).batch(num_train - 1))) == 1
    steps = pipes.steps_per_pass
    batches = list(pipes.epochs(0, 2, steps).take(2 * steps).as_numpy_iterator())
    assert len(batches) == 2 * steps
    second = batch_values(pipes.epochs(1, 2, steps).take(steps))
    assert values(tf.data.Dataset.from_tensor_slices(np.concatenate(batches[steps:]))) == second
    assert src.skipped.paths == [str(bad)]


def test_the_probe_sample_decodes_only_the_drawn_files(pets):
    """evaluate's train sample: the draw of `sample_arrays` over the decoded split, taken from
    the file references before decoding."""
    run = types.SimpleNamespace(train={})
    images, labels, chosen = splits.sample_train(run, pets, 7, seed=2)
    expected = splits.sample_arrays(pets.train, pets.num_train, 7, seed=2)
    np.testing.assert_array_equal(chosen, expected[2])
    np.testing.assert_array_equal(images, expected[0])
    np.testing.assert_array_equal(labels, expected[1])


def _linked_folder(root, count):
    """`count` files, hard links to one PNG, except that every file after the preflight's is
    not an image at all: loading must not read them."""
    root.mkdir(parents=True)
    constant_png(root / "0000000.png", 9)
    (root / "garbage").write_bytes(b"not an image")
    for i in range(1, count):
        source = "0000000.png" if i < image_files.PREFLIGHT_FILES else "garbage"
        os.link(root / source, root / f"{i:07d}.png")
    (root / "garbage").unlink()


@pytest.mark.slow
def test_loading_a_folder_reads_no_file_and_holds_a_few_bytes_per_file(tmp_path):
    """Start-up lists the files into arrays: no file past the preflight is read or decoded
    (they are not images, and loading succeeds until the validation split streams), and the
    Python memory the listing needs at its peak grows by less than 150 bytes per file (one
    Path or bytes object per file would take several hundred)."""
    peaks = {}
    for count in (3_000, 30_000):
        _linked_folder(tmp_path / str(count), count)
        tracemalloc.start()
        try:
            source = load_source(f"folder:{tmp_path / str(count)}")
            pipes = make_pipelines(
                source, batch_size=8, validation_fraction=0.02, cache_budget_mb=0
            )
            peaks[count] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert pipes.num_validation + pipes.num_train == source.num_train
        with pytest.raises(DataError, match="cannot read or decode"), data.named_file_errors():
            batch_values(pipes.validation)
    assert (peaks[30_000] - peaks[3_000]) / 27_000 < 150


def test_validation_and_normal_classes_filter_references(pets):
    pipes = make_pipelines(pets, batch_size=4, normal_classes=[1], cache_budget_mb=0)
    dogs = [v for v, label in labelled(pets.train) if label == 1]
    assert pipes.num_validation + pipes.num_train == len(dogs)
    assert batch_values(pipes.validation) == dogs[: pipes.num_validation]
    assert sorted(one_pass(pipes, 0)) == sorted(dogs[pipes.num_validation :])


def test_the_shuffle_buffer_bounds_how_far_an_image_moves_ahead(tmp_path):
    """In-memory and TFDS splits above the cache budget shuffle with a bounded buffer: output
    position i holds one of the first i + buffer images of the fixed order."""
    x = np.arange(200, dtype=np.uint8).reshape(200, 1, 1, 1).repeat(2, axis=1)
    np.savez(tmp_path / "d.npz", x_train=x, x_test=x[:10])
    src = load_source(f"npz:{tmp_path}/d.npz")
    buffer = 8
    pipes = make_pipelines(src, batch_size=10, shuffle_buffer=buffer, cache_budget_mb=0)
    order = values(tf.data.Dataset.from_tensor_slices(next(pipes.epochs(0, 1).as_numpy_iterator())))
    full = one_pass(pipes, 0)
    fixed = values(src.train)[pipes.num_validation :]
    positions = [fixed.index(v) for v in full]
    assert sorted(full) == sorted(fixed) and full != fixed
    assert all(p < i + buffer for i, p in enumerate(positions))
    assert order == full[:10]
    # Within the budget the split is cached and shuffled whole: images move further.
    whole = one_pass(make_pipelines(src, batch_size=10, shuffle_buffer=buffer), 0)
    assert max(p - i for i, p in enumerate(fixed.index(v) for v in whole)) >= buffer


def test_only_splits_within_the_cache_budget_are_cached(tmp_path):
    """A cached split is read from disk once; an uncached one on every pass."""
    root = tmp_path / "pets"
    src = load_source(class_folder(root))
    first_validation = values(src.train)[0]
    path = next(
        p
        for p in root.rglob("*.png")
        if int(np.asarray(Image.open(p))[0, 0, 0]) == first_validation
    )
    image_bytes = 6 * 5 * 3 * 4
    budgets = {"none": 0, "all": 1}  # MiB; 1 MiB holds every split here
    pipes = {k: make_pipelines(src, batch_size=4, cache_budget_mb=v) for k, v in budgets.items()}
    before = {k: batch_values(p.validation) for k, p in pipes.items()}
    constant_png(path, 255)  # the file changes on disk after the first pass
    after = {k: batch_values(p.validation) for k, p in pipes.items()}
    assert after["all"] == before["all"]
    assert after["none"][0] == 255 and after["none"][1:] == before["none"][1:]
    budget = CacheBudget(1, (6, 5, 3))
    assert budget.fits(2**20 // image_bytes) and not budget.fits(1) and budget.fits(0)


def test_bad_pipeline_and_config_values_are_refused(pets):
    with pytest.raises(DataError, match="shuffle_buffer"):
        make_pipelines(pets, batch_size=4, shuffle_buffer=0)
    with pytest.raises(DataError, match="cache_budget_mb"):
        make_pipelines(pets, batch_size=4, cache_budget_mb=-1)
    with pytest.raises(DataError, match="bad_files"):
        load_source("folder:/nowhere", bad_files="ignore")
    assert config.BAD_FILES == data.BAD_FILES
    for field, value in (("bad_files", "ignore"), ("shuffle_buffer", 0), ("cache_budget_mb", -1)):
        cfg = config.get_config()
        cfg[field] = value
        with pytest.raises(ConfigError, match=f"--{field}"):
            config.validate(cfg)


# --- training ----------------------------------------------------------------------------------


@pytest.fixture
def folder_with_bad_file(tmp_path):
    root = tmp_path / "pets"
    spec = class_folder(root)
    (root / "dog" / "zz_corrupt.png").write_bytes(b"garbage")
    return spec


@pytest.mark.slow
def test_training_stops_naming_a_bad_file_or_skips_it(folder_with_bad_file, tmp_path, capsys):
    common = {"steps_per_epoch": None, "batch_size": 4, "normal_classes": None}
    stop = tiny_run_config("ae", folder_with_bad_file, tmp_path / "stop", **common)
    with pytest.raises(DataError, match="zz_corrupt.png"):
        train.train_and_evaluate(stop)
    skip = tiny_run_config(
        "ae", folder_with_bad_file, tmp_path / "skip", bad_files="skip", **common
    )
    train.train_and_evaluate(skip)
    assert "skipped 1 unreadable image file(s):" in capsys.readouterr().out
    assert (tmp_path / "skip" / "model.keras").exists()


@pytest.mark.slow
def test_the_cli_names_a_bad_file_met_while_training_in_one_line(folder_with_bad_file, tmp_path):
    result = run_cli(
        "train",
        "--model=ae",
        "--model_args=filters=4,8",
        "--latent_dim=2",
        "--batch_size=4",
        "--epochs=1",
        f"--dataset={folder_with_bad_file}",
        f"--workdir={tmp_path / 'run'}",
    )
    assert_one_line_error(result, "zz_corrupt.png", "--bad_files=skip")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["folder", "tfrecord"])
def test_a_streamed_run_killed_and_resumed_ends_like_an_uninterrupted_one(tmp_path, kind):
    """Read from files, uncached (an image folder with a skipped file, or records read shard by
    shard): resume still gives the same weights."""
    root = tmp_path / "noise"
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(120):
        Image.fromarray(rng.integers(0, 256, (16, 16), np.uint8)).save(root / f"{i:03d}.png")
    (root / "zz_corrupt.png").write_bytes(b"garbage")
    dataset = [f"--dataset=folder:{root}", "--bad_files=skip"]
    if kind == "tfrecord":
        prepare_records(f"folder:{root}", tmp_path / "rec", shard_mb=0.005, bad_files="skip")
        dataset = [f"--dataset=tfrecord:{tmp_path / 'rec'}", "--shuffle_buffer=20"]
    flags = [
        "--model=ae",
        "--model_args=filters=4,8",
        "--epochs=4",
        "--steps_per_epoch=9",  # longer than a pass: epochs span passes
        "--batch_size=16",
        *dataset,
        "--cache_budget_mb=0",
    ]
    workdir = tmp_path / "killed"
    command = [sys.executable, "-m", "convae_tf.train", *flags, f"--workdir={workdir}"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )
    deadline = time.time() + 180
    while run_folder.resume_epoch(workdir) < 2 and time.time() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = run_cli("train", *flags, f"--workdir={workdir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(resuming)" in resumed.stdout
    straight = run_cli("train", *flags, f"--workdir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-3000:]
    if kind == "folder":
        assert "skipped 1 unreadable image file(s)" in straight.stdout
    weights = [
        keras.saving.load_model(w / "model.keras").get_weights()
        for w in (workdir, tmp_path / "straight")
    ]
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("test_examples", [0, 5, 1000])
def test_the_closing_test_measure_reads_the_first_test_examples(tmp_path, test_examples):
    # A run's last step must not grow with the dataset; 0 keeps the whole split.
    class_folder(tmp_path)
    source = load_source(f"folder:{tmp_path}")
    pipes = make_pipelines(source, batch_size=2)
    cfg = config.get_config()
    cfg.update(batch_size=2, test_examples=test_examples)
    closing = train.closing_test_batches(cfg, pipes, source)
    images = np.concatenate(list(closing.as_numpy_iterator()))
    whole = np.concatenate(list(pipes.test.as_numpy_iterator()))
    assert len(whole) == source.num_test > 5
    np.testing.assert_array_equal(images, whole[: test_examples or None])
