"""Dynamic binarisation (--binarize): train images drawn afresh each pass from Bernoulli(pixel),
seeded by the pass alone (so resume is exact); validation and test binarised once, the same
whatever the batch size; evaluation reads the very images training measured."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_run_config

from convae_tf.artifacts import run_folder
from convae_tf.data import binarize, load_source, make_pipelines
from convae_tf.evaluation import splits
from convae_tf.training import train

GREY = 0.3  # every pixel of every image: its binary draws average to this


@pytest.fixture(scope="module")
def grey_npz(tmp_path_factory):
    """40 train / 10 test images, 16x16x1, labels 0-3: each a constant grey with one black and
    one white pixel (those must stay 0 and 1)."""
    path = tmp_path_factory.mktemp("grey") / "grey.npz"

    def images(n):
        x = np.full((n, 16, 16), GREY, np.float32)
        x[:, 0, 0], x[:, 0, 1] = 0.0, 1.0
        return x

    np.savez(
        path,
        x_train=images(40),
        y_train=np.arange(40) % 4,
        x_test=images(10),
        y_test=np.arange(10) % 4,
    )
    return f"npz:{path}"


def stacked(batches):
    return np.concatenate(list(batches.as_numpy_iterator()))


def test_train_passes_are_binary_fresh_each_epoch_and_the_same_on_resume(grey_npz):
    pipes = make_pipelines(load_source(grey_npz), batch_size=8, binarize=True)
    steps = pipes.steps_per_pass
    uninterrupted = stacked(pipes.epochs(0, 3, steps).take(3 * steps))
    assert set(np.unique(uninterrupted)) == {0.0, 1.0}
    assert (uninterrupted[:, 0, 0] == 0).all() and (uninterrupted[:, 0, 1] == 1).all()
    epochs = np.split(uninterrupted, 3)
    assert not np.array_equal(epochs[0], epochs[1])  # a new draw every epoch
    # The draws average to the grey level (10,000+ pixels per epoch: 0.3 +- 0.015 at 3 sigma).
    assert abs(epochs[0][:, 1:].mean() - GREY) < 0.015
    resumed = stacked(pipes.epochs(2, 3, steps).take(steps))
    np.testing.assert_array_equal(resumed, epochs[2])
    without = make_pipelines(load_source(grey_npz), batch_size=8)
    assert not np.isin(stacked(without.epochs(0, 1, steps).take(steps)), [0.0, 1.0]).all()


def test_validation_and_test_are_binarised_once_whatever_the_batch_size(grey_npz):
    source = load_source(grey_npz)
    a = make_pipelines(source, batch_size=4, binarize=True)
    b = make_pipelines(source, batch_size=7, binarize=True)
    for split in ("validation", "test"):
        first, again = stacked(getattr(a, split)), stacked(getattr(b, split))
        np.testing.assert_array_equal(first, again)
        assert set(np.unique(first)) == {0.0, 1.0}
    # Each split has its own draw: the same grey images do not give the same binary ones.
    count = len(stacked(a.validation))
    assert not np.array_equal(stacked(a.validation), stacked(a.test)[:count])


def test_a_worker_draws_what_a_single_process_draws_of_its_images(grey_npz):
    pipes = make_pipelines(load_source(grey_npz), batch_size=4, binarize=True)
    single = list(pipes.epochs(0, 1).take(pipes.steps_per_pass).as_numpy_iterator())
    shares = [
        list(pipes.epochs(0, 1, worker=(2, i), batch_size=2).take(pipes.steps_per_pass))
        for i in range(2)
    ]
    for whole, first, second in zip(single, *shares, strict=True):
        # Element sharding: worker i holds images i, i + 2, ... of the single process's batch.
        np.testing.assert_array_equal(whole[0::2], first)
        np.testing.assert_array_equal(whole[1::2], second)


def test_fixed_draws_keep_examples_labels(grey_npz):
    examples = binarize.fixed(load_source(grey_npz).test, "test")
    first = next(iter(examples))
    assert set(first) == {"image", "label"} and first["label"].dtype == tf.int64
    assert set(np.unique(first["image"])) <= {0.0, 1.0}


def test_evaluation_splits_are_the_images_training_measured(grey_npz, tmp_path):
    cfg = tiny_run_config("ae", grey_npz, tmp_path / "run", binarize=True, normal_classes=(1, 2))
    train.train_and_evaluate(cfg)
    run = run_folder.load_run(tmp_path / "run")
    assert run.train["binarize"] is True
    source = splits.load_source(run)
    pipes = make_pipelines(
        source, batch_size=16, normal_classes=(1, 2), binarize=True, validation_fraction=0.1
    )
    for split in ("validation", "test"):
        images, _ = splits.to_arrays(splits.split_examples(run, source, split))
        np.testing.assert_array_equal(images, stacked(getattr(pipes, split)))
    train_images, _ = splits.to_arrays(splits.split_examples(run, source, "train"))
    assert set(np.unique(train_images)) == {0.0, 1.0}
