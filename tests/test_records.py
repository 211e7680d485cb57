"""`tfrecord:DIR` sources written by `prepare`: the same splits, order and labels as the source
they came from; cached passes identical to that source's, uncached passes read shard by shard
(a seeded permutation of the train split, the same for a resumed epoch); workers read disjoint
shares; broken folders are named in one line, and prepare never leaves or overwrites a folder."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ENV, batch_values, class_folder, labelled, run_cli, values, write_png

from convae_tf.data import DataError, load_source, make_pipelines, named_file_errors, records
from convae_tf.data.prepare import prepare_records
from convae_tf.training import config


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    """A labelled image folder (values identify images) and records prepared from it, in
    shards of 3 images (the images are 6x5x3 bytes)."""
    root = tmp_path_factory.mktemp("records")
    folder = class_folder(root / "pets")
    prepare_records(folder, root / "rec", shard_mb=3 * 90 / 2**20)
    return load_source(folder), load_source(f"tfrecord:{root / 'rec'}"), root / "rec"


def one_pass(pipes, epoch):
    return batch_values(pipes.epochs(epoch, epoch + 1).take(pipes.steps_per_pass))


def test_records_hold_the_source_splits_in_order_with_labels(pets):
    folder, rec, root = pets
    assert (rec.num_train, rec.num_test, rec.num_classes, rec.image_shape) == (
        folder.num_train,
        folder.num_test,
        2,
        (6, 5, 3),
    )
    assert labelled(rec.train) == labelled(folder.train)
    assert labelled(rec.test) == labelled(folder.test)
    assert list(rec.train_labels.as_numpy_iterator()) == [y for _, y in labelled(folder.train)]
    metadata = json.loads((root / records.METADATA).read_text())
    train = metadata["splits"]["train"]
    assert train["counts"] == [3] * (rec.num_train // 3) + [rec.num_train % 3] * bool(
        rec.num_train % 3
    )
    assert sorted(p.name for p in root.glob("train-*")) == train["files"]


def test_float_arrays_are_stored_to_the_nearest_eighth_bit(tmp_path):
    rng = np.random.default_rng(0)
    x_train, x_test = rng.random((7, 4, 4, 1)), rng.random((3, 4, 4, 1))
    np.savez(tmp_path / "float.npz", x_train=x_train, x_test=x_test)
    prepare_records(f"npz:{tmp_path / 'float.npz'}", tmp_path / "rec")
    rec = load_source(f"tfrecord:{tmp_path / 'rec'}")
    assert rec.num_classes is None and not (tmp_path / "rec" / records.LABELS).exists()
    stored = np.stack([ex["image"] for ex in rec.train.as_numpy_iterator()])
    np.testing.assert_allclose(stored, x_train, atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("normal_classes", [None, (1,)])
def test_cached_records_give_the_pipelines_of_their_source(pets, normal_classes):
    folder, rec, _ = pets
    kwargs = {"batch_size": 4, "seed": 3, "normal_classes": normal_classes}
    a, b = make_pipelines(folder, **kwargs), make_pipelines(rec, **kwargs)
    assert (a.num_train, a.num_validation) == (b.num_train, b.num_validation)
    assert batch_values(a.validation) == batch_values(b.validation)
    assert one_pass(a, 0) == one_pass(b, 0) and one_pass(a, 1) == one_pass(b, 1)


@pytest.mark.parametrize("normal_classes", [None, (1,)])
def test_uncached_passes_read_shards_and_are_seeded_permutations(pets, normal_classes):
    folder, rec, _ = pets
    kwargs = {"batch_size": 4, "seed": 3, "normal_classes": normal_classes, "cache_budget_mb": 0}
    pipes = make_pipelines(rec, shuffle_buffer=5, **kwargs)
    cached = make_pipelines(folder, **{**kwargs, "cache_budget_mb": 1024})
    assert batch_values(pipes.validation) == batch_values(cached.validation)
    train_values = sorted(one_pass(cached, 0))  # the train split, without validation
    first = one_pass(pipes, 0)
    assert sorted(first) == train_values and first != sorted(first)
    assert one_pass(pipes, 0) == first  # reproducible
    assert one_pass(pipes, 1) != first  # another epoch, another order
    assert one_pass(make_pipelines(rec, shuffle_buffer=5, **{**kwargs, "seed": 4}), 0) != first


def test_a_resumed_epoch_sees_the_batches_of_an_uninterrupted_run(pets):
    pipes = make_pipelines(pets[1], batch_size=4, cache_budget_mb=0, shuffle_buffer=5)
    steps = pipes.steps_per_pass + 2  # epochs span passes
    uninterrupted = batch_values(pipes.epochs(0, 3, steps).take(3 * steps))
    resumed = batch_values(pipes.epochs(2, 3, steps).take(steps))
    assert resumed == uninterrupted[-len(resumed) :]


@pytest.mark.parametrize("kind", ["records by file", "records by element", "folder", "cached"])
def test_workers_read_disjoint_shares_that_make_the_whole_split(pets, kind):
    folder, rec, _ = pets
    source = folder if kind in ("folder", "cached") else rec
    pipes = make_pipelines(source, batch_size=4, cache_budget_mb=1024 if kind == "cached" else 0)
    workers = len(rec.shards.files) + 1 if kind == "records by element" else 2
    shares = [values(pipes.shuffled_images(7, (workers, i))) for i in range(workers)]
    whole = values(pipes.shuffled_images(7))
    assert sorted(sum(shares, [])) == sorted(whole)  # disjoint, and together the whole
    assert all(0 < len(share) < len(whole) for share in shares)
    if kind == "records by file":
        # Each record file (3 images in the fixed order) is read by one worker alone.
        in_order = values(rec.train)
        for start in range(0, len(in_order), 3):
            train_images = set(in_order[start : start + 3]) & set(whole)
            assert sum(bool(train_images & set(share)) for share in shares) <= 1
    else:  # element sharding: the workers' shares interleaved are the single process's order
        merged = [v for group in zip(*shares, strict=False) for v in group]
        assert merged == whole[: len(merged)]


def test_worker_epochs_are_full_and_together_the_single_process_batches(pets):
    pipes = make_pipelines(pets[0], batch_size=4, drop_remainder=True)
    steps = pipes.steps_per_pass + 1  # into the next pass
    single = list(pipes.epochs(0, 1, steps).take(steps).as_numpy_iterator())
    halves = [
        list(pipes.epochs(0, 1, steps, worker=(2, i), batch_size=2).take(steps)) for i in range(2)
    ]
    assert [len(h) for h in halves] == [steps, steps]
    for whole, first, second in zip(single, *halves, strict=True):
        assert sorted(batch_values([whole])) == sorted(batch_values([first, second]))


# --- bad folders ------------------------------------------------------------------------------


def broken_copy(root, tmp_path, damage):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    damage(copy)
    return f"tfrecord:{copy}"


def edit_metadata(change):
    def damage(root):
        metadata = json.loads((root / records.METADATA).read_text())
        change(metadata)
        (root / records.METADATA).write_text(json.dumps(metadata))

    return damage


def first_shard(root):
    return sorted(root.glob("train-*.tfrecord"))[0]


BROKEN = {
    "no metadata": (lambda r: (r / records.METADATA).unlink(), ["no metadata.json", "prepare"]),
    "corrupt metadata": (
        lambda r: (r / records.METADATA).write_text("{not json"),
        ["is corrupt", "prepare"],
    ),
    "other version": (edit_metadata(lambda m: m.update(version=99)), ["version 99", "prepare"]),
    "counts disagree": (
        edit_metadata(lambda m: m["splits"]["train"].update(count=1)),
        ["is corrupt"],
    ),
    "missing shard": (lambda r: first_shard(r).unlink(), ["train-00000-of", "missing"]),
    "truncated shard": (
        lambda r: first_shard(r).write_bytes(first_shard(r).read_bytes()[:-7]),
        ["train-00000-of", "truncated"],
    ),
    "missing labels": (lambda r: (r / records.LABELS).unlink(), ["labels.npz"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_record_folders_fail_at_load_in_one_line(pets, tmp_path, case):
    damage, fragments = BROKEN[case]
    with pytest.raises(DataError) as error:
        load_source(broken_copy(pets[2], tmp_path, damage))
    message = str(error.value)
    assert "\n" not in message and all(f in message for f in fragments), message


def test_a_flipped_byte_is_caught_while_streaming_in_one_line(pets, tmp_path):
    def flip(root):
        shard = first_shard(root)
        data = bytearray(shard.read_bytes())
        data[40] ^= 0xFF  # inside the first record's payload: its checksum fails
        shard.write_bytes(bytes(data))

    source = load_source(broken_copy(pets[2], tmp_path, flip))  # sizes still match
    with pytest.raises(DataError, match="record file is corrupt.*prepare"), named_file_errors():
        list(source.train.as_numpy_iterator())


def test_missing_folder_and_spec_without_path(tmp_path):
    with pytest.raises(DataError, match="does not exist.*prepare"):
        load_source(f"tfrecord:{tmp_path / 'nope'}")
    with pytest.raises(DataError, match="no path after 'tfrecord:'"):
        load_source("tfrecord:")


def test_prepare_never_overwrites_and_leaves_nothing_when_it_fails(pets, tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="already exists"):
        prepare_records("sprites", existing)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    with pytest.raises(DataError, match="shard_mb"):
        prepare_records("sprites", tmp_path / "x", shard_mb=0)
    # A corrupt image met while writing: one line naming it, and no folder, not even a partial.
    folder = tmp_path / "pets"
    class_folder(folder)
    (folder / "dog" / "zz_bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match="zz_bad.png"):
        prepare_records(f"folder:{folder}", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "pets"]
    metadata = prepare_records(f"folder:{folder}", tmp_path / "out", bad_files="skip")
    assert metadata["splits"]["train"]["count"] + metadata["splits"]["test"]["count"] == 40


@pytest.mark.parametrize("channels", [1, 3])
def test_prepare_converts_a_mixed_folder_to_the_channels_asked(tmp_path, channels):
    """A folder whose first file is gray and second colour: every record has `channels`,
    gray tiled to RGB, RGB to gray by luma, as a training run on the folder would see it."""
    folder = tmp_path / "mixed"
    write_png(folder / "a.png", np.full((4, 4), 90))
    write_png(folder / "b.png", np.full((4, 4, 3), 200))
    metadata = prepare_records(f"folder:{folder}", tmp_path / "rec", channels=channels)
    assert metadata["image_shape"] == [4, 4, channels]
    prepared = load_source(f"tfrecord:{tmp_path / 'rec'}")
    direct = load_source(f"folder:{folder}", channels=channels)
    for split in ("train", "test"):
        got = [ex["image"] for ex in getattr(prepared, split).as_numpy_iterator()]
        want = [ex["image"] for ex in getattr(direct, split).as_numpy_iterator()]
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == (4, 4, channels)
            np.testing.assert_allclose(g, w, atol=0.5 / 255)


def test_a_training_run_on_records_resolves_its_run_folder_name(pets):
    cfg = config.get_config()
    cfg.update(dataset=f"tfrecord:{pets[2]}", model="ae")
    assert config.resolved_workdir(cfg).name == "ae-tfrecord-rec"


@pytest.mark.slow
def test_prepare_then_train_from_the_command_line(tmp_path):
    folder = tmp_path / "pets"
    class_folder(folder)
    out = tmp_path / "rec"
    # --channels converts as training's flag does: the colour images are stored gray.
    prepared = run_cli("prepare", f"--dataset=folder:{folder}", f"--out={out}", "--channels=1")
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert f"train with --dataset=tfrecord:{out}" in prepared.stdout
    assert json.loads((out / records.METADATA).read_text())["image_shape"] == [6, 5, 1]
    trained = run_cli(
        "train",
        "--model=ae",
        "--model_args=filters=4,8",
        "--latent_dim=2",
        "--epochs=1",
        "--batch_size=8",
        "--image_size=8,8",
        "--cache_budget_mb=0",
        f"--dataset=tfrecord:{out}",
        f"--workdir={tmp_path / 'run'}",
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (tmp_path / "run" / "model.keras").exists()
    # The console script is installed too.
    help_text = subprocess.run(
        [sys.executable, "-m", "convae_tf.prepare", "--helpshort"],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert "--shard_mb" in help_text.stdout
