"""Training callbacks: the best checkpoint survives divergence; a collapse is reported."""

import json

import keras
import numpy as np
import tensorflow as tf
from conftest import tiny_model, toy_images

from convae_tf.training import callbacks


def test_a_diverged_epoch_never_replaces_the_best_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    clean = rng.random((8, 16, 16, 1), np.float32)
    poisoned = np.full_like(clean, np.nan)
    # Epoch 0 trains on clean batches; epoch 1 on NaN batches, which makes the weights NaN.
    stream = tf.data.Dataset.from_tensor_slices(np.concatenate([clean, poisoned])).batch(4)
    model = tiny_model("ae")
    best = callbacks.BestCheckpoint(tmp_path)
    history = model.fit(
        stream,
        validation_data=(clean,),
        epochs=3,
        steps_per_epoch=2,
        # The stream's order is the point; fit's default shuffle=True would only make Keras
        # warn that it ignores shuffling on a dataset.
        shuffle=False,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN(), best],
    )
    assert len(history.history["loss"]) == 2 and np.isnan(history.history["loss"][1])
    assert json.loads((tmp_path / "best.json").read_text())["epoch"] == 0
    assert sorted(f.name for f in tmp_path.iterdir()) == ["best.json", "best.keras"]  # no tmp
    reloaded = keras.saving.load_model(tmp_path / "best.keras")
    assert np.isfinite(np.asarray(reloaded(clean))).all()
    np.testing.assert_allclose(
        reloaded.evaluate(clean, verbose=0), history.history["val_loss"][0], rtol=1e-5
    )


def test_a_resumed_run_keeps_a_better_earlier_checkpoint(tmp_path):
    (tmp_path / "best.json").write_text(json.dumps({"epoch": 3, "val_loss": 1e-9}))
    (tmp_path / "best.keras").write_bytes(b"earlier")
    model = tiny_model("ae")
    x = np.random.default_rng(1).random((4, 16, 16, 1), np.float32)
    model.fit(
        x, validation_data=(x,), epochs=1, verbose=0, callbacks=[callbacks.BestCheckpoint(tmp_path)]
    )
    assert (tmp_path / "best.keras").read_bytes() == b"earlier"  # 1e-9 was not beaten


def test_csv_logger_drops_the_rows_of_epochs_that_run_again(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss\n0,0.5\n1,0.4\n2,0.3\n")  # epoch 2 logged, not backed up
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2}))
    callbacks.ResumableCSVLogger(history, backup).on_train_begin()
    assert history.read_text() == "epoch,loss\n0,0.5\n1,0.4\n"
    # Without a backup the run starts over: the old rows go.
    (backup / "training_metadata.json").unlink()
    callbacks.ResumableCSVLogger(history, backup).on_train_begin()
    assert history.read_text() == ""
    assert sorted(f.name for f in tmp_path.iterdir()) == ["backup", "history.csv"]


def test_a_collapsed_model_is_reported_once_with_the_fix(capsys):
    rng = np.random.default_rng(0)
    preview = toy_images(rng.integers(0, 3, 8), rng).astype(np.float32) / 255
    # Reconstructions that differ between images (here the images themselves): no warning.
    faithful = keras.Sequential([keras.Input(preview.shape[1:]), keras.layers.Identity()])
    warning = callbacks.CollapseWarning(preview)
    warning.set_model(faithful)
    warning.on_epoch_end(1)
    assert "warning" not in capsys.readouterr().out

    model = tiny_model("ae", reconstruction_loss="mse")
    model(preview)
    # Zero the logits layer's kernel: every image now gets sigmoid(bias), one constant image.
    logits = model.decoder.get_layer("logits")
    logits.kernel.assign(np.zeros(logits.kernel.shape, np.float32))
    warning = callbacks.CollapseWarning(preview)
    warning.set_model(model)
    for epoch in range(3):
        warning.on_epoch_end(epoch)
    out = capsys.readouterr().out
    # Not after the first epoch (a fresh decoder's outputs barely differ), then once.
    assert out.count("warning") == 1
    assert "epoch 2:" in out and "collapsed" in out
    assert "--model_args=reconstruction_loss=bce" in out
