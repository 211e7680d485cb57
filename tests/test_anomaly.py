"""The fitted anomaly score (models/anomaly.py): z(log MSE) + z(log Mahalanobis² of the code)
against held-out normal images; before fitting, the model's own reconstruction score."""

import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import blob_images, tiny_model, tiny_run_config

import convae_tf
from convae_tf.artifacts import run_folder
from convae_tf.evaluation import splits
from convae_tf.models import anomaly, base
from convae_tf.training import train


def test_statistics_standardise_the_normal_images():
    rng = np.random.default_rng(0)
    mixing = np.array([[2.0, 0, 0, 0], [1.0, 1.5, 0, 0], [0, 0, 1.0, 0], [0, 0, 0.5, 1.0]])
    codes = 3.0 + rng.normal(size=(2000, 4)) @ mixing.T  # correlated, unequal spreads
    mse = np.exp(rng.normal(-4.0, 0.5, 2000))
    stats = anomaly.fit_statistics(codes, mse)
    np.testing.assert_allclose(stats["location"], codes.mean(0), rtol=1e-5)
    distance = np.asarray(anomaly.mahalanobis(codes, stats["location"], stats["precision"]))
    # Squared Mahalanobis distances of Gaussian codes average the dimension (4), whatever
    # their scales and correlations (a Euclidean distance would average 8.25 here).
    assert 3.6 < distance.mean() < 4.4
    scores = np.asarray(anomaly.combined(mse, distance, stats["scales"]))
    assert abs(scores.mean()) < 1e-3  # each z term has mean 0 on the fitting images
    far = np.asarray(anomaly.mahalanobis(codes + 10.0, stats["location"], stats["precision"]))
    assert (np.asarray(anomaly.combined(mse, far, stats["scales"])) > scores).all()


@pytest.mark.parametrize("name", convae_tf.list_models())
def test_fitting_ranks_unlike_images_higher_and_survives_saving(name, tmp_path):
    model = tiny_model(name)
    model.fit(blob_images(256, 16).astype(np.float32) / 255.0, epochs=15, batch_size=32, verbose=0)
    held_out = blob_images(64, 16, seed=5).astype(np.float32) / 255.0
    before = np.asarray(model.score(held_out))
    np.testing.assert_allclose(before, model.reconstruction_score(held_out), rtol=1e-6)
    model.fit_anomaly_score(held_out)
    fitted = np.asarray(model.score(held_out))
    assert abs(fitted.mean()) < 0.05  # standardised on these very images
    # Inverted discs: most of their scores lie above the 95th percentile of normal ones.
    assert np.median(np.asarray(model.score(1.0 - held_out))) > np.percentile(fitted, 95)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.score(held_out), fitted, rtol=1e-5, atol=1e-5)


def test_a_training_run_fits_the_score_on_its_validation_images(
    toy_npz, tmp_path, capsys, monkeypatch
):
    """On the fit part of the validation split (`HeldOutParts`), and on no other image."""
    fitted_on = []
    fit = base.ConvAutoencoder.fit_anomaly_score

    def recording(model, batches, **kwargs):
        batches = list(batches)  # training streams the images in small batches
        fitted_on.append(np.concatenate(batches))
        return fit(model, batches, **kwargs)

    monkeypatch.setattr(base.ConvAutoencoder, "fit_anomaly_score", recording)
    cfg = tiny_run_config(
        "ae", f"npz:{toy_npz}", tmp_path / "run", normal_classes=(1,), validation_fraction=0.5
    )
    train.train_and_evaluate(cfg)
    run = run_folder.load_run(tmp_path / "run")
    validation, _ = splits.to_arrays(
        splits.split_examples(run, splits.load_source(run), "validation")
    )
    parts = anomaly.HeldOutParts(len(validation))
    assert not parts.shared
    np.testing.assert_array_equal(fitted_on[0], validation[parts.fit_indices()])
    out = capsys.readouterr().out
    assert f"anomaly score: fitted on {len(parts.fit_indices())} of {len(validation)}" in out
    assert float(run.model.anomaly_score.fitted.numpy()) == 1.0
    scales = run.model.anomaly_score.scales.numpy()
    assert scales[1] > 0 and scales[3] > 0


def elements(dataset) -> list[int]:
    return [int(element["index"]) for element in dataset.as_numpy_iterator()]


@pytest.mark.parametrize("count", [1, 19, 20, 21, 300])
def test_the_fit_and_calibration_parts_split_the_held_out_images(count):
    """Even positions fit, odd ones calibrate: disjoint, and together every held-out image;
    below MIN_IMAGES_TO_SPLIT both parts are every image. The tf.data parts hold the same
    examples, in order."""
    parts = anomaly.HeldOutParts(count)
    fit, calibration = list(parts.fit_indices()), list(parts.calibration_indices())
    if count < anomaly.MIN_IMAGES_TO_SPLIT:
        assert parts.shared and fit == calibration == list(range(count))
        assert "too few" in parts.describe() and "optimistic" in parts.calibration_method()
    else:
        assert fit == list(range(0, count, 2)) and calibration == list(range(1, count, 2))
        assert not parts.shared and "not" in parts.calibration_method()
    examples = tf.data.Dataset.from_tensor_slices({"index": np.arange(count)})
    assert elements(parts.fit(examples)) == fit
    assert elements(parts.calibration(examples)) == calibration


def test_the_fit_part_stops_at_fit_images(monkeypatch):
    monkeypatch.setattr(anomaly, "FIT_IMAGES", 5)
    parts = anomaly.HeldOutParts(30)
    assert list(parts.fit_indices()) == [0, 2, 4, 6, 8]
    assert list(parts.calibration_indices()) == [1, 3, 5, 7, 9, *range(10, 30)]
    examples = tf.data.Dataset.from_tensor_slices({"index": np.arange(30)})
    assert elements(parts.fit(examples)) == [0, 2, 4, 6, 8]
    assert elements(parts.calibration(examples)) == [1, 3, 5, 7, 9, *range(10, 30)]
    assert "fitted on 5 of 30 validation images" in parts.describe()


def as_saved_before_the_score_layer(path, legacy_path):
    """A copy of the `.keras` file `path` in the layout of files saved before the score had
    its own layer: its four statistics appended to the model's own variables."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(legacy_path, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "model.weights.h5":
                weights = legacy_path.with_suffix(".h5")
                weights.write_bytes(data)
                with h5py.File(weights, "r+") as f:
                    own = f.require_group("vars")
                    first = len(own)
                    for i in range(4):
                        f.copy(f[f"anomaly_score/vars/{i}"], own, name=str(first + i))
                    del f["anomaly_score"]
                data = weights.read_bytes()
            target.writestr(item, data)


@pytest.mark.parametrize("name", convae_tf.list_models())
def test_files_saved_before_the_score_layer_load_their_fitted_score(name, tmp_path):
    model = tiny_model(name)
    x = blob_images(32, 16).astype(np.float32) / 255.0
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    model.fit_anomaly_score(x)
    model.save(tmp_path / "new.keras")
    as_saved_before_the_score_layer(tmp_path / "new.keras", tmp_path / "old.keras")
    reloaded = keras.saving.load_model(tmp_path / "old.keras")
    assert float(reloaded.anomaly_score.fitted.numpy()) == 1.0
    np.testing.assert_array_equal(reloaded.score(x), model.score(x))
    np.testing.assert_array_equal(reloaded(x), model(x))


def test_the_score_fits_on_streamed_batches_as_on_the_array():
    """Training streams its validation images into the fit: batches from an iterable give the
    statistics of the whole array, and the fit reports how many images it saw."""
    model = tiny_model("ae")
    held_out = blob_images(70, 16, seed=3).astype(np.float32) / 255.0
    assert model.fit_anomaly_score(held_out) == 70
    from_array = [v.numpy() for v in (model.anomaly_score.location, model.anomaly_score.scales)]
    batches = (held_out[i : i + 32] for i in range(0, 70, 32))
    assert model.fit_anomaly_score(batches) == 70
    streamed = [v.numpy() for v in (model.anomaly_score.location, model.anomaly_score.scales)]
    for a, b in zip(from_array, streamed, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
