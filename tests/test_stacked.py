"""`stacked`: greedy stage-wise pretraining inside one `fit`, then fine-tuning (tiny shapes).

The registry-parametrised tests in test_models.py cover shapes, a fit step, gradients and `.keras`
round trips; these cover the schedule: what each phase trains, leaves alone and logs, and resume.
"""

import csv

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import SHAPE, TINY, images

import convae_tf
from convae_tf.models.stacked import StackedAE

PRETRAIN = 2  # epochs per stage
NUM_STAGES = 3  # two conv blocks, then the bottleneck
EPOCHS = NUM_STAGES * PRETRAIN + 4
STAGES = [0, 0, 1, 1, 2, 2, 3, 3, 3, 3]  # the phase of each epoch: 3 is fine-tuning
FIT = {"batch_size": 8, "shuffle": False, "verbose": 0}


def rectangles(n=128, seed=0):
    """Images with one bright rectangle each: structure that an autoencoder can learn."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, *SHAPE), np.float32)
    for image in x:
        top, left = rng.integers(0, 10, size=2)
        height, width = rng.integers(3, 7, size=2)
        image[top : top + height, left : left + width] = rng.uniform(0.5, 1.0)
    return x


def make_model(seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    model = convae_tf.get_model("stacked", **{**TINY, "pretrain_epochs": PRETRAIN, **overrides})
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.build((None, *SHAPE))  # BackupAndRestore needs a built model
    return model


def key(variable):
    """The variable's path inside the model (without the model's own, numbered, name)."""
    return variable.path.split("/", 1)[1]


def weights(model):
    return {key(v): np.array(v) for v in model.trainable_variables}


class Recorder(keras.callbacks.Callback):
    """Weights before training and after every epoch, and the full model's reconstruction
    loss on `images` after every epoch."""

    def __init__(self, images):
        super().__init__()
        self.images = images
        self.snapshots, self.full_losses = [], []

    def on_train_begin(self, logs=None):
        self.snapshots.append(weights(self.model))

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(weights(self.model))
        self.full_losses.append(float(np.mean(self.model.score(self.images))))


class FirstSteps(keras.callbacks.Callback):
    """Per epoch: the optimizer's step count at its end, and the largest change of any
    variable in the epoch's first step."""

    def __init__(self):
        super().__init__()
        self.iterations, self.first_step_change = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.before = weights(self.model)

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            after = weights(self.model)
            self.first_step_change.append(
                max(float(np.max(np.abs(after[p] - self.before[p]))) for p in after)
            )

    def on_epoch_end(self, epoch, logs=None):
        self.iterations.append(int(self.model.optimizer.iterations))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One scheduled fit of EPOCHS epochs, with everything it leaves behind."""
    x = rectangles()
    model = make_model()
    recorder, first_steps = Recorder(x), FirstSteps()
    csv_path = tmp_path_factory.mktemp("stacked") / "history.csv"
    history = model.fit(
        x,
        validation_data=(x[:16],),
        epochs=EPOCHS,
        **FIT,
        callbacks=[
            *model.training_callbacks(),
            recorder,
            first_steps,
            keras.callbacks.CSVLogger(csv_path),
        ],
    )
    return {
        "x": x,
        "model": model,
        "recorder": recorder,
        "first_steps": first_steps,
        "history": history.history,
        "csv": csv_path,
    }


def test_each_phase_changes_its_own_variables_and_nothing_else(run):
    model, snapshots = run["model"], run["recorder"].snapshots
    for epoch, stage in enumerate(STAGES):
        before, after = snapshots[epoch], snapshots[epoch + 1]
        changed = {path for path in before if not np.array_equal(before[path], after[path])}
        expected = {key(v) for v in model.stage_variables(stage)}
        assert changed == expected, f"epoch {epoch} (stage {stage})"
    # Stage 1 really kept stage 0 frozen: weights bit-identical after two more epochs.
    stage0 = {key(v) for v in model.stage_variables(0)}
    assert stage0 and all(np.array_equal(snapshots[2][p], snapshots[4][p]) for p in stage0)


def test_each_phase_starts_with_a_fresh_optimizer(run):
    steps_per_epoch = len(run["x"]) // FIT["batch_size"]
    first_steps = run["first_steps"]
    # The step count restarts with every phase: (epochs into the phase, 1 for its first) × steps.
    since_phase_start = [
        sum(1 for earlier in STAGES[: e + 1] if earlier == stage) for e, stage in enumerate(STAGES)
    ]
    assert first_steps.iterations == [n * steps_per_epoch for n in since_phase_start]
    # Adam's first step moves no coordinate by more than the learning rate; with the state of
    # the previous phase kept (zero moments at a high step count) it would move them by ~3×.
    learning_rate = float(run["model"].optimizer.learning_rate)
    for epoch in (e for e, n in enumerate(since_phase_start) if n == 1):
        assert 0.5 * learning_rate < first_steps.first_step_change[epoch]
        assert first_steps.first_step_change[epoch] <= 1.001 * learning_rate, epoch


def test_history_and_csv_show_each_phase_in_order(run):
    history = run["history"]
    assert history["stage"] == STAGES
    assert history["val_stage"] == STAGES  # the test function follows the phase too
    with open(run["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    assert [float(row["stage"]) for row in rows] == STAGES
    # Pretraining minimises the stage's own loss; fine-tuning the full objective, `loss`.
    pretraining = slice(0, NUM_STAGES * PRETRAIN)
    finetuning = slice(NUM_STAGES * PRETRAIN, EPOCHS)
    stage_loss, loss = np.array(history["stage_loss"]), np.array(history["loss"])
    assert np.all(np.abs(stage_loss[pretraining] - loss[pretraining]) > 1e-6)
    np.testing.assert_allclose(stage_loss[finetuning], loss[finetuning])
    assert run["model"].current_stage == NUM_STAGES  # left in fine-tuning after fit


def test_each_stage_learns_and_fine_tuning_lowers_the_full_loss(run):
    history, full = run["history"], run["recorder"].full_losses
    for stage in range(NUM_STAGES):
        first, last = (stage * PRETRAIN, stage * PRETRAIN + PRETRAIN - 1)
        assert history["stage_loss"][last] < history["stage_loss"][first], f"stage {stage}"
    end_of_pretraining = full[NUM_STAGES * PRETRAIN - 1]
    assert full[-1] < 0.75 * end_of_pretraining, (end_of_pretraining, full[-1])


def test_stage_losses_reach_exactly_their_stage_variables():
    model = make_model()
    x = rectangles(n=4)
    everything = model.trainable_variables
    stages = [{key(v) for v in model.stage_variables(s)} for s in range(NUM_STAGES)]
    # The pretraining stages partition the model's variables.
    assert sum(len(s) for s in stages) == len(everything)
    assert set().union(*stages) == {key(v) for v in everything}
    for stage in range(NUM_STAGES):
        model.set_stage(stage)
        with tf.GradientTape() as tape:
            loss = model.loss_terms(x, training=True)["stage_loss"]
        grads = tape.gradient(loss, everything)
        reached = {key(v) for v, g in zip(everything, grads, strict=True) if g is not None}
        assert reached == stages[stage], f"stage {stage}"
    model.set_stage(NUM_STAGES)
    with tf.GradientTape() as tape:
        loss = model.loss_terms(x, training=True)["stage_loss"]
    assert all(g is not None for g in tape.gradient(loss, everything))


@pytest.mark.parametrize(
    "shape, options",
    [
        ((17, 23, 2), {}),
        ((20, 20, 3), {"decoder_block": "transpose", "pooling": "avg"}),
        ((16, 16, 1), {"filters": (4,), "upsampling": "bilinear", "reconstruction_loss": "mse"}),
    ],
)
def test_every_stage_mirrors_its_block_for_any_shape(shape, options):
    model = convae_tf.get_model("stacked", **{**TINY, **options})
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    assert tuple(model(x).shape) == x.shape
    for stage in range(model.num_stages):
        target, output = model.stage_reconstruction(x, stage)
        assert tuple(output.shape) == tuple(target.shape), f"stage {stage}"
        assert np.isfinite(float(model.stage_loss(x, stage)))
    assert tuple(model.stage_reconstruction(x, 0)[0].shape) == x.shape


class Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("killed")


@pytest.mark.slow
@pytest.mark.parametrize("killed_at", [3, 4], ids=["mid-phase", "phase-start"])
def test_resume_from_backup_continues_in_the_right_phase(run, tmp_path, killed_at):
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    # Killed before epoch 3, mid stage 1, or before epoch 4, the first of stage 2 (where the
    # optimizer restarts after BackupAndRestore has restored it).
    model = make_model()
    with pytest.raises(RuntimeError, match="killed"):
        model.fit(
            run["x"],
            epochs=EPOCHS,
            **FIT,
            callbacks=[*model.training_callbacks(), backup, Interrupt(killed_at)],
        )
    # A new process: a fresh model (other initial weights) and fresh callbacks.
    model = make_model(seed=1)
    history = model.fit(
        run["x"],
        validation_data=(run["x"][:16],),
        epochs=EPOCHS,
        **FIT,
        callbacks=[
            *model.training_callbacks(),
            keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
        ],
    )
    assert history.history["stage"] == STAGES[killed_at:]
    # Same weights as the uninterrupted run: the phases (and optimizer state) were restored.
    uninterrupted = weights(run["model"])
    for path, value in weights(model).items():
        np.testing.assert_allclose(value, uninterrupted[path], rtol=1e-4, atol=1e-6, err_msg=path)


def test_an_unbuilt_model_runs_the_whole_schedule():
    # The optimizer must be built on every variable even though the first step (stage 0)
    # updates only stage 0's, or stage 1 fails with "Unknown variable".
    model = convae_tf.get_model("stacked", **TINY, pretrain_epochs=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(
        rectangles(n=16), epochs=NUM_STAGES + 1, **FIT, callbacks=model.training_callbacks()
    )
    assert history.history["stage"] == [0, 1, 2, 3]


def test_epoch_to_phase_mapping_and_per_stage_epochs():
    model = convae_tf.get_model("stacked", **TINY, pretrain_epochs=(1, 0, 2))
    assert [model.stage_for_epoch(e) for e in range(6)] == [0, 2, 2, 3, 3, 3]
    assert model.pretraining_epochs == 3
    assert [make_model().stage_for_epoch(e) for e in range(EPOCHS)] == STAGES
    skip = convae_tf.get_model("stacked", **TINY, pretrain_epochs=0)
    assert skip.stage_for_epoch(0) == skip.num_stages


@pytest.mark.parametrize("bad", [-1, (), (1, 1), (1, -1, 1)])
def test_bad_pretrain_epochs_are_named(bad):
    with pytest.raises(ValueError, match="pretrain_epochs"):
        convae_tf.get_model("stacked", **TINY, pretrain_epochs=bad)


@pytest.mark.parametrize(
    "option",
    [
        {"hidden_units": 8},
        {"output_layer": "transpose"},
        {"block_convs": 2},
        {"normalization": "batch"},
    ],
)
def test_options_without_a_stage_of_their_own_are_refused(option):
    with pytest.raises(ValueError, match=next(iter(option))):
        convae_tf.get_model("stacked", **TINY, **option)


def test_one_convolution_per_block_given_per_block_is_accepted():
    model = convae_tf.get_model("stacked", **TINY, block_convs=[1] * len(TINY["filters"]))
    assert model.block_convs == (1,) * len(TINY["filters"])
    assert model(images(batch=2)).shape == (2, *SHAPE)
    with pytest.raises(ValueError, match="block_convs"):
        convae_tf.get_model("stacked", **TINY, block_convs=[1] * (len(TINY["filters"]) - 1) + [2])


def test_too_few_epochs_for_the_schedule_fail_before_training():
    model = make_model()
    before = weights(model)
    with pytest.raises(ValueError, match=r"at least 7 epochs"):
        model.fit(
            rectangles(n=16),
            epochs=NUM_STAGES * PRETRAIN,
            **FIT,
            callbacks=model.training_callbacks(),
        )
    after = weights(model)
    assert all(np.array_equal(before[p], after[p]) for p in before)


def test_keras_round_trip_keeps_the_schedule_and_outputs(run, tmp_path):
    model = make_model(pretrain_epochs=(1, 0, 2))
    model.fit(run["x"], epochs=4, **FIT, callbacks=model.training_callbacks())
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, StackedAE)
    assert reloaded.pretrain_epochs == (1, 0, 2) and reloaded.stage_epochs == (1, 0, 2)
    assert reloaded.current_stage == reloaded.num_stages
    np.testing.assert_array_equal(reloaded(run["x"]), model(run["x"]))
    np.testing.assert_array_equal(reloaded.encode(run["x"]), model.encode(run["x"]))
    np.testing.assert_array_equal(reloaded.score(run["x"]), model.score(run["x"]))
