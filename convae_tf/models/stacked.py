"""`stacked`: the stacked autoencoder, greedy layer-wise pretraining then end-to-end fine-tuning.

The network is the `ae` family (same encoder, same options) with a decoder whose block k mirrors
encoder block k exactly (`nets.mirrored_decoder`), so the model splits into K = len(filters) + 1
stages, each a shallow autoencoder:

- stage k < len(filters): encoder block `down{k}` and its mirror `mirror{k}`. Stage 0 rebuilds
  the image from its logits with the model's own reconstruction loss; stage k > 0 rebuilds the
  feature maps of stage k - 1 with MSE, on the mirror's real output (its activation included):
  the decoder blocks are kept in the final model, so pretraining trains exactly the function
  that fine-tuning starts from, whatever the activation.
- stage K - 1: the dense bottleneck (flatten → code → expand → reshape) on its own, rebuilding
  the last block's feature maps with MSE. It is the most aggressive compression of the network
  (e.g. 7·7·64 → 16) and the part that greedy pretraining helps most; folded into the last conv
  stage it would make that stage a deep autoencoder again (and with one conv block, the whole
  model: no pretraining at all).

Every stage sees the outputs of the trained stages below it as constants (`stop_gradient`) and
its step passes only its own variables to the optimizer: the other stages are not touched at
all (Adam moves weights even with zero gradients; variables it never sees it cannot move).
Then phase K fine-tunes everything with the normal objective. Each phase starts with the
optimizer's state zeroed (`restart_optimizer`), like a fresh optimizer. The step itself is the
base `train_step`, told by two hooks what to minimise (`objective_term = "stage_loss"`) and
what to update (`step_variables()`: the current phase's variables).

The schedule runs inside one `model.fit`, driven by the `StageSchedule` callback that
`training_callbacks()` returns (train.py adds it): the phase is a pure function of the epoch
index, set at the start of each epoch, so a run resumed by BackupAndRestore at epoch e is in
phase `stage_for_epoch(e)` again. The phase is a Python value read while tracing, so a change
rebuilds the train/test functions; Keras's fit looks `self.train_function` up at every step
(keras/src/backend/tensorflow/trainer.py), so the new one takes effect at once.

Logged per epoch: `loss` and `reconstruction` are always the full model's objective (comparable
across phases, so ModelCheckpoint's best val_loss is a real autoencoder), `stage_loss` is what
the phase minimises, `stage` is 0..K-1 in pretraining and K in fine-tuning.

Without the callback (a bare `model.fit`, a reloaded model) the model is in phase K and trains
end to end like `ae`.
"""

from __future__ import annotations

import keras
from keras import ops

from convae_tf.models import nets
from convae_tf.models.base import ConvAutoencoder
from convae_tf.models.registry import register


@register("stacked")
class StackedAE(ConvAutoencoder):
    """Stacked convolutional autoencoder: greedy stage-wise pretraining, then fine-tuning.

    Args: those of `ConvAutoencoder`, and
        pretrain_epochs: epochs of pretraining per stage, an int for every stage or one per
            stage (len(filters) + 1 of them: the conv blocks from the input up, then the
            bottleneck); 0 skips a stage. Fine-tuning takes the rest of `fit`'s epochs: the
            schedule refuses to start when `epochs` leaves no fine-tuning epoch.
    """

    metric_names = ("loss", "reconstruction", "stage_loss", "stage")
    # Its stages split the network block by block (nets.mirrored_decoder); these options of
    # the other models have no stage of their own (normalization: the mirrored blocks have
    # none), so they keep these values.
    fixed_architecture = {
        "hidden_units": 0,
        "output_layer": "conv",
        "block_convs": 1,
        "normalization": "none",
        "bottleneck": "dense",
    }
    # The phase's loss: a stage's in pretraining, the full objective in fine-tuning.
    objective_term = "stage_loss"

    def __init__(self, pretrain_epochs: int | tuple[int, ...] = 2, **kwargs):
        # The architecture arguments go to ConvAutoencoder; get_config and the CLI's argument
        # check read them along the MRO (ConvAutoencoder.constructor_arguments).
        super().__init__(**kwargs)
        if any(self._differs(name, value) for name, value in self.fixed_architecture.items()):
            raise ValueError(
                "stacked supports neither hidden_units, output_layer='transpose', "
                "block_convs > 1, normalization='batch' nor bottleneck='conv'"
            )
        per_stage = isinstance(pretrain_epochs, (list, tuple))
        epochs = tuple(int(n) for n in pretrain_epochs) if per_stage else (int(pretrain_epochs),)
        if (per_stage and len(epochs) != self.num_stages) or min(epochs, default=-1) < 0:
            raise ValueError(
                f"pretrain_epochs={pretrain_epochs!r} must be a count ≥ 0 for every stage, or "
                f"{self.num_stages} of them (one per conv block, then the bottleneck)"
            )
        self.pretrain_epochs = epochs if per_stage else epochs[0]
        self.stage_epochs = epochs if per_stage else epochs * self.num_stages
        # Fine-tuning, the normal objective: what a bare fit or a reloaded model trains.
        self.current_stage = self.num_stages

    def _differs(self, name: str, value) -> bool:
        # block_convs given per block, (1, 1), is the same network as 1.
        if name == "block_convs":
            arch = self.architecture
            return any(arch.convs(k) != value for k in range(arch.depth))
        return getattr(self, name) != value

    # ----------------------------------------------------------------------------- building
    def build_decoder(self) -> keras.Model:
        # The `ae` decoder puts its Conv2D(C) after all the upsampling blocks, so its blocks are
        # not per-block inverses of the encoder's; this one's are (see the module docstring).
        return nets.mirrored_decoder(self.architecture, self.image_shape)

    # ----------------------------------------------------------------------------- schedule
    @property
    def num_stages(self) -> int:
        """Pretraining stages: one per conv block, then the bottleneck. Phase K is fine-tuning."""
        return len(self.filters) + 1

    @property
    def pretraining_epochs(self) -> int:
        return sum(self.stage_epochs)

    def stage_for_epoch(self, epoch: int) -> int:
        """The phase of epoch `epoch` (0-based, as Keras counts): 0..K-1 pretraining, K after."""
        end = 0
        for stage, epochs in enumerate(self.stage_epochs):
            end += epochs
            if epoch < end:
                return stage
        return self.num_stages

    def set_stage(self, stage: int) -> None:
        """Switch the phase: what `loss_terms` optimises and which variables a step updates."""
        stage = int(stage)
        if not 0 <= stage <= self.num_stages:
            raise ValueError(f"stage={stage} must be in 0..{self.num_stages}")
        if stage == self.current_stage:
            return
        self.current_stage = stage
        # Compiled functions baked the old phase in; fit looks them up at every step.
        self.train_function = self.test_function = None
        if self.compiled:
            self.make_train_function()
            self.make_test_function()

    def training_callbacks(self) -> list:
        return [StageSchedule()]

    # ------------------------------------------------------------------------------- stages
    def _named_layers(self, net: keras.Model, prefix: str) -> list:
        return [layer for layer in net.layers if layer.name.startswith(prefix)]

    def _stage_layers(self, stage: int) -> tuple[list, list]:
        """(encoder-side layers, decoder-side layers) of a pretraining stage, in call order."""
        if stage == len(self.filters):
            enc = [self.encoder.get_layer("flatten"), self.encoder.get_layer("code")]
            dec = [self.decoder.get_layer("expand"), self.decoder.get_layer("reshape")]
            return enc, dec
        enc = self._named_layers(self.encoder, f"down{stage}_")
        return enc, self._named_layers(self.decoder, f"mirror{stage}_")

    def stage_variables(self, stage: int) -> list:
        """The variables that phase `stage` trains (all trainable ones in fine-tuning)."""
        if stage == self.num_stages:
            return self.trainable_variables
        enc, dec = self._stage_layers(stage)
        return [v for layer in enc + dec for v in layer.trainable_variables]

    def stage_reconstruction(self, images, stage: int, training=False):
        """(target, output) of pretraining stage `stage` on the frozen lower stages' features:
        for stage 0 the images and the logits; for stage k > 0 the feature maps that stage
        k - 1 emits and their reconstruction through stage k. Same shapes."""
        self._ensure_built(images)
        features = images
        for layer in self._named_layers(self.encoder, "pad"):
            features = layer(features)
        for lower in range(stage):
            for layer in self._stage_layers(lower)[0]:
                features = layer(features, training=training)
        # The lower stages are fixed in this phase: their output is a constant input and target.
        features = ops.stop_gradient(features)
        enc, dec = self._stage_layers(stage)
        outputs = features
        for layer in enc + dec:
            outputs = layer(outputs, training=training)
        if stage:
            return ops.cast(features, "float32"), ops.cast(outputs, "float32")
        for layer in self._named_layers(self.decoder, "crop"):
            outputs = layer(outputs)
        return ops.cast(images, "float32"), ops.cast(outputs, "float32")

    def stage_loss(self, images, stage: int, training=False):
        """Stage 0: the model's reconstruction loss on the image; stage k > 0: MSE on the
        feature maps (mean over every element)."""
        target, output = self.stage_reconstruction(images, stage, training=training)
        if stage == 0:
            return ops.mean(self.reconstruction_error(target, output))
        return ops.mean(ops.square(output - target))

    # ----------------------------------------------------------------------------- training
    def loss_terms(self, images, training=False) -> dict:
        terms = super().loss_terms(images, training=training)
        stage = self.current_stage
        stage_loss = (
            self.stage_loss(images, stage, training) if stage < self.num_stages else terms["loss"]
        )
        return {**terms, "stage_loss": stage_loss, "stage": ops.convert_to_tensor(float(stage))}

    def step_variables(self) -> list:
        # Only the phase's variables reach the optimizer (see the module docstring).
        return self.stage_variables(self.current_stage)


class StageSchedule(keras.callbacks.Callback):
    """Runs `StackedAE`'s schedule inside one `fit`: at the start of each epoch, the phase that
    `stage_for_epoch` gives. Keyed on the epoch index alone, so BackupAndRestore's resume at
    epoch e lands in the right phase; after fit the model is left in fine-tuning (phase K)."""

    def on_train_begin(self, logs=None):
        epochs, pretraining = self.params.get("epochs"), self.model.pretraining_epochs
        if pretraining and epochs is not None and epochs <= pretraining:
            raise ValueError(
                f"stacked: epochs={epochs} leaves no epoch for fine-tuning after {pretraining} "
                f"pretraining epochs ({self.model.num_stages} stages, pretrain_epochs="
                f"{self.model.pretrain_epochs}); train for at least {pretraining + 1} epochs, or "
                "lower pretrain_epochs (0 trains end to end only)"
            )

    def on_epoch_begin(self, epoch, logs=None):
        stage = self.model.stage_for_epoch(epoch)
        if epoch > 0 and stage != self.model.stage_for_epoch(epoch - 1):
            # Keyed on the epoch, not on the model's current phase: a run resumed at the first
            # epoch of a phase restarts the optimizer after BackupAndRestore restored it, as
            # the uninterrupted run did, and one resumed mid-phase keeps the restored state.
            restart_optimizer(self.model.optimizer)
        self.model.set_stage(stage)

    def on_train_end(self, logs=None):
        self.model.set_stage(self.model.num_stages)


def restart_optimizer(optimizer: keras.optimizers.Optimizer) -> None:
    """Zero the optimizer's state (Adam's moments, the step count) but not its learning rate:
    each phase starts like a new `fit` with a new optimizer, as in the classic greedy recipe.
    Kept across phases, Adam would meet a phase's variables with zero moments at a high step
    count, where its bias correction no longer applies: their first steps would be about 3×
    the learning rate instead of at most 1×."""
    if not optimizer.built:
        return
    for variable in optimizer.variables:
        if variable.name != "learning_rate":
            variable.assign(ops.zeros_like(variable))
