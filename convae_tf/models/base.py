"""ConvAutoencoder: the base model that owns the training objective.

    loss = reconstruction(x, decode(sample_code(encode(corrupt(x))))) + regularizer(...)

A variant overrides one hook and never copies `call`:

- `corrupt(images, training)`: what the encoder sees in training (denoising: noise, masks).
- `fixed_corrupt(images)`: the same corruption, drawn from the images' content (validation,
  int8 calibration).
- `encoder_inputs(images, missing)`: what the encoder reads for images some of whose pixels
  are missing (default: the images, holes as they are; the dae with `mask_channel`: the
  mask as one more channel), so that `inpaint` fills holes for every variant.
- `code_size()` / `sample_code(encoded, training)`: what the encoder emits and how a decoder
  input is drawn from it (VAE: mean and log-variance, a reparameterised sample in training).
- `regularizer(encoded, images)`: a penalty added to the loss, plus metrics to log
  (sparse: activity penalty; VAE: β·KL).
- `reconstruction_reduction`: "mean" per pixel (Keras style) or "sum" (nats per image).
- `pixel_weights(inputs, images)`: each pixel's weight in the training loss, for the
  encoder's `inputs` and the clean `images` (default None: all equal; the dae's
  `hole_weight`: holes count more; its `noise_balance`: noisier images count less).
- `output_logits(inputs, decoder_logits)`: the reconstruction's logits from the decoder's
  output (the dae's `residual`: the input plus a correction).
- `training_callbacks()`: a schedule over epochs (stacked: greedy stages; VAE: KL warm-up).
- `score_of(images, encoded, logits)`: the model's own anomaly score from an encoding already
  made (default: the reconstruction error; VAE: the negative ELBO).
- `objective_term` / `step_variables()`: which `loss_terms` entry a training step minimises
  and which variables it updates (default "loss" and every trainable one; stacked: its current
  stage's loss and variables), so no variant copies `train_step`.

What a model says about its own code, so that nothing outside `models/` inspects what `encode`
returns:

- `code(images)`: the deterministic code (batch, latent_dim), the decoder's input at inference
  (VAE: the posterior mean).
- `encode_outputs(images)`: `encode` as named outputs for serving, {"code"} (VAE: {"mean",
  "log_var"}).
- `is_variational`: True when `encode` gives a posterior q(z|x) as (mean, log_var) and
  `sample(n)` draws from the prior (the VAE): evaluation's likelihood section applies.

Inference (`call(training=False)`, `encode`, `code`, `decode`, `score`) is deterministic.

What the model holds besides its objective: `architecture`, the frozen description of its
network that the builders read (models/architecture.py, models/nets.py), and `anomaly_score`,
the layer of the fitted score's statistics (models/anomaly.py).
"""

from __future__ import annotations

import inspect
import itertools

import keras
import tensorflow as tf
from keras import ops

from convae_tf.models import anomaly, blocks, losses, nets
from convae_tf.models.architecture import Architecture, architecture_attributes


@architecture_attributes
class ConvAutoencoder(keras.Model):
    """Convolutional autoencoder for images of any H×W×C, built on first call.

    Args:
        latent_dim, filters, kernel_size, activation, pooling, upsampling, decoder_block,
            hidden_units, output_layer, block_convs, normalization, bottleneck: the network,
            kept as one frozen `Architecture` (models/architecture.py, which describes each)
            in `self.architecture`; each is also a read-only attribute of the model.
        reconstruction_loss: "bce" (binary cross-entropy on logits) or "mse".
    """

    # Names of the values that `loss_terms` returns and `fit` logs; "loss" is the objective.
    metric_names: tuple[str, ...] = ("loss", "reconstruction")
    # The `loss_terms` entry that a training step minimises (stacked: its phase's loss).
    objective_term = "loss"
    reconstruction_reduction = "mean"
    # Whether `encode` returns a posterior (mean, log_var) and `sample(n)` exists (the VAE).
    is_variational = False
    # Channels that the encoder reads besides the image's (the dae's mask channel).
    extra_input_channels = 0
    # Whether training draws holes to fill (the dae's masking, rectangles or strokes): such a
    # model's TFLite files carry the inpaint signature too (deploy/signatures.py).
    fills_holes = False
    # Whether a conv bottleneck makes the model fully convolutional (`fully_convolutional`):
    # not where inference needs more than the code map (the VAE splits its code into mean and
    # log-variance). Stacked has no conv bottleneck.
    any_size_inference = True
    # Architecture fields that a variant cannot change, with the value it needs (stacked: its
    # stages split the network block by block); empty: every option applies.
    fixed_architecture: dict[str, object] = {}

    def __init__(
        self,
        latent_dim: int = 16,
        filters: tuple[int, ...] = (32, 64),
        kernel_size: int = 3,
        activation: str = "relu",
        pooling: str = "max",
        upsampling: str = "nearest",
        decoder_block: str = "upsample",
        reconstruction_loss: str = "bce",
        hidden_units: int = 0,
        output_layer: str = "conv",
        block_convs: int | tuple[int, ...] = 1,
        normalization: str = "none",
        bottleneck: str = "dense",
        **kwargs,
    ):
        super().__init__(**kwargs)
        blocks.check_choice(
            "reconstruction_loss", reconstruction_loss, losses.RECONSTRUCTION_LOSSES
        )
        self.reconstruction_loss = reconstruction_loss
        self.architecture = Architecture(
            latent_dim=latent_dim,
            filters=filters,
            kernel_size=kernel_size,
            activation=activation,
            pooling=pooling,
            upsampling=upsampling,
            decoder_block=decoder_block,
            hidden_units=hidden_units,
            output_layer=output_layer,
            block_convs=block_convs,
            normalization=normalization,
            bottleneck=bottleneck,
        )
        self.image_shape = None
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names}

    def get_config(self):
        # Every constructor argument is an attribute of the same name (the architecture's
        # through `ArchitectureField`), so the config is read off the signature and each
        # variant gets a complete one for free. (Keras's own auto-config does not see the
        # arguments of a subclassed Model: Model.__new__ drops them.)
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self.constructor_arguments()})
        return config

    @classmethod
    def constructor_arguments(cls) -> list[str]:
        """Names of the constructor arguments, read along the MRO, so a variant that adds its
        own arguments and forwards the base ones through **kwargs still lists them all."""
        names = []
        for klass in cls.__mro__:
            if not (issubclass(klass, ConvAutoencoder) and "__init__" in vars(klass)):
                continue
            for name, parameter in inspect.signature(klass.__init__).parameters.items():
                if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and name not in names:
                    names.append(name)
        return [name for name in names if name != "self"]

    # ----------------------------------------------------------------------------- building
    def code_size(self) -> int:
        """Width of the encoder's output (the VAE doubles it: mean and log-variance)."""
        return self.latent_dim

    def build(self, input_shape):
        if len(input_shape) != 4 or any(d is None for d in input_shape[1:]):
            raise ValueError(
                f"{type(self).__name__} needs images of a known shape (batch, H, W, C); "
                f"got {tuple(input_shape)}"
            )
        self.image_shape = tuple(int(d) for d in input_shape[1:])
        nets.check_code_fits(self.architecture, self.image_shape)
        height, width, channels = self.image_shape
        encoder_shape = (height, width, channels + self.extra_input_channels)
        network = nets.encoder(self.architecture, encoder_shape, self.code_size())
        if self.skip_connections:
            # Two views of the same layers: images → [code, *skip maps] for reconstructions,
            # images → code for everything that reads the code.
            self.skip_encoder = network
            network = keras.Model(network.input, network.outputs[0], name="encoder")
        self.encoder = network
        self.decoder = self.build_decoder()
        # Set by `fit_anomaly_score` after training, saved with the model, read by `score`.
        self.anomaly_score = anomaly.AnomalyScore(self.latent_dim, name="anomaly_score")
        self._any_size = None
        if self.fully_convolutional:
            trained = (network, getattr(self, "skip_encoder", network), self.decoder)
            channels = nets.code_channels(self.image_shape, self.depth, self.code_size())
            # Held outside Keras's tracking: the same layers, so no variables of its own to
            # count or save.
            self._any_size = _Untracked(
                *nets.any_size_networks(
                    self.architecture,
                    trained,
                    self.image_shape[-1],
                    channels,
                    self.extra_input_channels,
                )
            )

    @property
    def fully_convolutional(self) -> bool:
        """Whether `call`, `encode` and `reconstruction_score` take images of any H×W with the
        same weights: a code that is a feature map (bottleneck="conv", so no dense layer), in a
        variant that decodes from it alone (`any_size_inference`). Other sizes are padded to a
        multiple of 2**depth inside and cropped back; `encode` then gives a code whose size
        depends on H×W, and `decode`, `code` and the fitted `score` keep the training size."""
        return self.any_size_inference and self.bottleneck == "conv"

    @property
    def depth(self) -> int:
        """Encoder blocks: images are padded to a multiple of 2**depth."""
        return self.architecture.depth

    def build_decoder(self) -> keras.Model:
        """The decoder network for `self.image_shape` (stacked: one with per-block mirrors)."""
        return nets.decoder(self.architecture, self.image_shape, skip_shapes=self.skip_shapes())

    def skip_shapes(self) -> tuple:
        """Shapes (H, W, C) of the skip feature maps that the decoder takes besides the code."""
        if not self.skip_connections:
            return ()
        return tuple(tuple(t.shape[1:]) for t in self.skip_encoder.outputs[1:])

    @property
    def decodes_codes(self) -> bool:
        """Whether `decode(code)` exists: not with skip connections (see `skip_connections`)."""
        return not self.skip_connections

    def _ensure_built(self, images):
        if not self.built:
            self.build(tuple(images.shape))

    def load_own_variables(self, store):
        # Files saved before the anomaly score had its own layer hold its statistics among the
        # model's own variables (Keras saves a layer's own ones as trainable, then
        # non-trainable, by position).
        own = len(self._trainable_variables) + len(self._non_trainable_variables)
        store, statistics = anomaly.split_legacy_store(store, own)
        if statistics is not None:
            self.anomaly_score.load_statistics(statistics)
        super().load_own_variables(store)

    # --------------------------------------------------------------------------------- hooks
    def corrupt(self, images, training=False):
        """What the encoder sees: the clean images, unless a variant corrupts training inputs."""
        return images

    def fixed_corrupt(self, images):
        """The training corruption of `images` drawn from their content alone, the same on
        every call (validation, int8 calibration): the images themselves here."""
        return images

    def encoder_inputs(self, images, missing=None):
        """What the encoder reads for `images` whose pixels `missing` (B, H, W, 1), 1 where
        a pixel is missing, are unknown (None: every pixel is known). Here the images as they
        are, holes included; a variant whose encoder reads more channels
        (`extra_input_channels`) appends them, and passes inputs that have them already."""
        return images

    def sample_code(self, encoded, training=False):
        """Decoder input drawn from the encoder output (deterministic here)."""
        return encoded

    def regularizer(self, encoded, images):
        """(penalty added to the loss, {metric name: value}); none for the plain autoencoder."""
        return 0.0, {}

    @property
    def pretraining_epochs(self) -> int:
        """Epochs that the training schedule spends before end-to-end training (stacked)."""
        return 0

    def training_callbacks(self) -> list:
        """Callbacks that the variant's training schedule needs (KL warm-up, stage switching);
        `train.py` adds them to `fit`."""
        return []

    def step_variables(self) -> list:
        """The variables that a training step updates (stacked: the current stage's)."""
        return self.trainable_variables

    # ------------------------------------------------------------------------------ inference
    def encode(self, images, training=False):
        """Images → the encoder's output: the code, or for the VAE its posterior's
        (mean, log-variance). `code` gives the code of any model."""
        self._ensure_built(images)
        if self._other_size(images):
            return _channel_major(self._any_size_maps(images, training)[0])
        return self.encoder(self.encoder_inputs(images), training=training)

    def code(self, images):
        """Images → the code (batch, latent_dim) that the decoder gets at inference:
        deterministic (for the VAE, the posterior mean)."""
        return self.sample_code(self.encode(images, training=False), training=False)

    def encode_outputs(self, images) -> dict:
        """`encode` as named outputs, the serving `encode` signature's: {"code": …}."""
        return {"code": self.encode(images, training=False)}

    def decode_logits(self, code, training=False):
        if not self.built:
            raise ValueError(
                "decode() needs a built model: call the model on a batch of images first, or "
                "model.build((None, H, W, C))"
            )
        if not self.decodes_codes:
            raise ValueError(
                f"{type(self).__name__} with skip_connections=True has no decode(code): its "
                "decoder also needs the encoder's feature maps; reconstruct images instead"
            )
        return ops.cast(self.decoder(code, training=training), "float32")

    def decode(self, code, training=False):
        """Code → images in [0, 1]."""
        return ops.sigmoid(self.decode_logits(code, training=training))

    def encode_and_reconstruct(self, inputs, training=False):
        """(the encoder's output for `inputs`, the decoder's logits from it): the one path
        from images to a reconstruction, with the code alone or, with skip connections, the
        code and the encoder's feature maps. A fully convolutional model takes any H×W."""
        self._ensure_built(inputs)
        if self._other_size(inputs):
            encoded, logits = self._any_size_encode_and_reconstruct(inputs, training)
        elif not self.skip_connections:
            encoded = self.encode(inputs, training=training)
            code = self.sample_code(encoded, training=training)
            # The decoder itself, not `decode_logits`: a residual model has no decode(code)
            # for users (its output is a correction), but reconstructs through it here.
            logits = ops.cast(self.decoder(code, training=training), "float32")
        else:
            encoded, *skips = self.skip_encoder(self.encoder_inputs(inputs), training=training)
            code = self.sample_code(encoded, training=training)
            logits = ops.cast(self.decoder([code, *skips], training=training), "float32")
        return encoded, self.output_logits(inputs, logits)

    def output_logits(self, inputs, decoder_logits):
        """The reconstruction's logits from the decoder's output for the encoder's `inputs`:
        the decoder's output itself (the dae's `residual` adds it to the input)."""
        return decoder_logits

    # ------------------------------------------------------------------------------ any size
    def _other_size(self, images) -> bool:
        """Whether `images` are not of the training H×W (or of an unknown one, as in a
        signature traced for any size): then only a fully convolutional model takes them."""
        if tuple(images.shape[1:3]) == tuple(self.image_shape[:2]):
            return False
        if not self.fully_convolutional:
            height, width = self.image_shape[:2]
            raise ValueError(
                f"{type(self).__name__} takes {height}×{width} images only (its code is tied "
                f"to that size); got {tuple(images.shape[1:3])}. Run larger images tile by "
                "tile (convae_tf.deploy.restore), or use a model with bottleneck='conv'"
            )
        return True

    def _any_size_maps(self, images, training=False) -> list:
        """[the code as a feature map, *the skip maps] of `images` of any H×W, padded at the
        bottom and right to a multiple of 2**depth as the training-size encoder pads."""
        step = 2**self.depth
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        padding = [[0, 0], [0, (-height) % step], [0, (-width) % step], [0, 0]]
        inputs = tf.pad(self.encoder_inputs(images), padding)
        outputs = self._any_size.encoder(inputs, training=training)
        return list(outputs) if isinstance(outputs, list | tuple) else [outputs]

    def _any_size_encode_and_reconstruct(self, inputs, training=False):
        """`encode_and_reconstruct` at any H×W: the code (channel-major, as at the training
        size) and the logits cropped back to the input's size. The decoder starts from the
        code map itself: `sample_code` of these variants is the identity."""
        maps = self._any_size_maps(inputs, training)
        logits = self._any_size.decoder(maps if len(maps) > 1 else maps[0], training=training)
        logits = logits[:, : tf.shape(inputs)[1], : tf.shape(inputs)[2], :]
        return _channel_major(maps[0]), ops.cast(logits, "float32")

    def reconstruct_logits(self, images, training=False):
        inputs = self.corrupt(images, training=training)
        return self.encode_and_reconstruct(inputs, training=training)[1]

    def call(self, images, training=False):
        """The reconstruction of `images`, same shape, values in [0, 1]."""
        return ops.sigmoid(self.reconstruct_logits(images, training=training))

    def inpaint(self, images, masks):
        """`images` (B, H, W, C) with the pixels where `masks` (B, H, W, 1) is 1 filled in
        and the others kept exactly as they were: masks · reconstruction + (1 − masks) ·
        images. The encoder sees the images with the holes set to 0, as the denoising
        autoencoder's holes are in training (and, with `mask_channel`, the masks too)."""
        images = ops.convert_to_tensor(images, "float32")
        masks = ops.convert_to_tensor(masks, "float32")
        self._ensure_built(images)
        holed = images * (1.0 - masks)
        _, logits = self.encode_and_reconstruct(self.encoder_inputs(holed, masks))
        return masks * ops.sigmoid(logits) + (1.0 - masks) * images

    def reconstruction_error(self, images, logits, weights=None):
        return losses.reconstruction_error(
            ops.cast(images, "float32"),
            logits,
            self.reconstruction_loss,
            self.reconstruction_reduction,
            weights,
        )

    def pixel_weights(self, inputs, images):
        """The weight of each pixel's error in the training loss for the encoder's `inputs`
        and the clean `images`, broadcast to the images (None: every pixel counts the
        same)."""
        return None

    def reconstruction_score(self, images):
        """The model's own anomaly score (batch,): the reconstruction error of the clean input
        (VAE: the negative ELBO)."""
        return self.score_of(images, *self.encode_and_reconstruct(images))

    def score_of(self, images, encoded, logits):
        """`reconstruction_score` from an encoding already made (VAE: adds the KL term)."""
        return self.reconstruction_error(images, logits)

    def score(self, images):
        """Per-example anomaly score (batch,), higher = more anomalous: once
        `fit_anomaly_score` has run, z(log MSE) + z(Mahalanobis² of the code) against
        held-out normal images (models/anomaly.py); before, `reconstruction_score`."""
        # One encode and one decode serve both scores (inference: the code is what
        # `sample_code` gives the decoder, the posterior mean for the VAE).
        encoded, logits = self.encode_and_reconstruct(images)
        if self._other_size(images) and self.anomaly_score.has_code_statistics:
            raise ValueError(
                f"the fitted score reads codes of {self.latent_dim} values, those of "
                f"{self.image_shape[0]}×{self.image_shape[1]} images; use "
                "reconstruction_score at other sizes"
            )
        own = self.score_of(images, encoded, logits)
        return self.anomaly_score(images, logits, self.sample_code(encoded), own)

    def fit_anomaly_score(self, images, batch_size: int = 256) -> int:
        """Fits `score` to held-out normal images: a float32 array (N, H, W, C), N >= 2, or
        an iterable of such batches (memory then holds one batch and the codes, however many
        images stream by). Returns how many images it was fitted on (0 when the code is too
        large to keep a fitted score: anomaly.MAX_FITTED_CODE)."""
        batches = iter(images)
        if hasattr(images, "shape"):
            batches = (
                images[start : start + batch_size] for start in range(0, len(images), batch_size)
            )
        first = next(batches)
        self._ensure_built(first)  # the score's layer exists once the model is built
        if not self.anomaly_score.has_code_statistics:  # nothing to fit (anomaly.py)
            return 0
        sizes = []
        self.anomaly_score.fit(self._inference_batches(itertools.chain([first], batches), sizes))
        return sum(sizes)

    def _inference_batches(self, batches, sizes: list):
        """(images, reconstruction logits, codes) of each batch, at inference; each batch's
        image count is appended to `sizes`."""
        for batch in batches:
            batch = ops.convert_to_tensor(batch)
            encoded, logits = self.encode_and_reconstruct(batch)
            sizes.append(int(batch.shape[0]))
            yield batch, logits, self.sample_code(encoded)

    # ------------------------------------------------------------------------------ training
    def loss_terms(self, images, training=False, inputs=None) -> dict:
        """The objective and the values to log, each a scalar averaged over the batch.
        `inputs`: what the encoder sees, if not `corrupt(images)` (the DAE's validation)."""
        if inputs is None:
            inputs = self.corrupt(images, training=training)
        encoded, logits = self.encode_and_reconstruct(inputs, training=training)
        weights = self.pixel_weights(inputs, images)
        if weights is None:  # a variant's error may take no weights (the VAE's likelihood)
            reconstruction = ops.mean(self.reconstruction_error(images, logits))
        else:
            reconstruction = ops.mean(self.reconstruction_error(images, logits, weights))
        penalty, logs = self.regularizer(encoded, images)
        loss = reconstruction + penalty
        if self.losses:  # activity or weight regularizers declared on layers
            loss = loss + ops.sum(self.losses)
        return {"loss": loss, "reconstruction": reconstruction, **logs}

    @property
    def metrics(self):
        # Only our trackers: they reset each epoch and their names are the logged keys.
        return list(self._trackers.values())

    def _record(self, terms, images):
        batch = ops.shape(images)[0]
        for name, tracker in self._trackers.items():
            tracker.update_state(terms[name], sample_weight=batch)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def train_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            terms = self.loss_terms(images, training=True)  # builds the model on first use
            # Gradients are summed across replicas, so each replica's mean is divided by their
            # number (the built-in compute_loss path does the same).
            loss = terms[self.objective_term] / tf.distribute.get_strategy().num_replicas_in_sync
            loss = self.optimizer.scale_loss(loss)
        if not self.optimizer.built:
            # On every trainable variable, not only this step's: a step that updates a subset
            # (a stacked stage) must leave the optimizer knowing the later steps' variables.
            self.optimizer.build(self.trainable_variables)
        variables = self.step_variables()
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return self._record(terms, images)

    def test_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._record(self.loss_terms(images, training=False), images)

    def predict_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self(images, training=False)


class _Untracked:
    """The any-size (encoder, decoder) of a fully convolutional model, in a holder that Keras
    neither tracks nor saves (they share the model's layers)."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model):
        self.encoder, self.decoder = encoder, decoder


def _channel_major(code_map):
    """A code feature map (batch, h, w, c) → the flat code (batch, c·h·w), channel by channel,
    the layout of the training-size encoder's code."""
    flat = tf.transpose(code_map, (0, 3, 1, 2))
    return tf.reshape(flat, (tf.shape(flat)[0], -1))
