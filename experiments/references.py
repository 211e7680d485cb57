"""The keras.io reference autoencoders, as published (Keras 3 versions).

"Variational AutoEncoder" (fchollet) and "Convolutional autoencoder for image denoising"
(Santiago L. Valdarrama): their layers, their own `train_step`/loss, `compile` defaults, Adam at
its default learning rate, and `fit` on numpy arrays with batch 128. Both were written for
28×28 MNIST; for other sizes that are multiples of 4 (sprites is 32×32) the same layers are
used. What this module adds for the benchmark is marked as such: the VAE's `call` and
`negative_elbo`, and a SavedModel export.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from convae_tf.deploy import signatures

REFERENCE_BATCH = 128


class Sampling(layers.Layer):
    """keras.io VAE: z = z_mean + exp(0.5 · z_log_var) · ε."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class KerasIoVAE(keras.Model):
    """The keras.io "Variational AutoEncoder" example (Keras 3 version), as published; `call`
    (added for inference benchmarks) reconstructs from z_mean."""

    def __init__(self, image_shape=(28, 28, 1), latent_dim=2, **kwargs):
        super().__init__(**kwargs)
        height, width, channels = image_shape
        encoder_inputs = keras.Input(shape=image_shape)
        x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
        x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Flatten()(x)
        x = layers.Dense(16, activation="relu")(x)
        z_mean = layers.Dense(latent_dim, name="z_mean")(x)
        z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
        z = Sampling()([z_mean, z_log_var])
        self.encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")
        # The same layers without the sampling (whose seed update would be a stateful op in
        # every exported graph, which TFLite cannot convert): for inference only.
        self.mean_encoder = keras.Model(encoder_inputs, z_mean, name="mean_encoder")
        latent_inputs = keras.Input(shape=(latent_dim,))
        x = layers.Dense((height // 4) * (width // 4) * 64, activation="relu")(latent_inputs)
        x = layers.Reshape((height // 4, width // 4, 64))(x)
        x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
        decoder_outputs = layers.Conv2DTranspose(channels, 3, activation="sigmoid", padding="same")(
            x
        )
        self.decoder = keras.Model(latent_inputs, decoder_outputs, name="decoder")
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))  # noqa: B905
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}

    def call(self, images, training=False):
        return self.decoder(self.mean_encoder(images, training=training), training=training)

    def negative_elbo(self, images):
        """Per-image −ELBO in nats at the posterior mean, the reference's own loss terms (the
        same quantity as our VAE's `score`); added for the time-to-quality comparison."""
        z_mean, z_log_var, _ = self.encoder(images)
        reconstruction = self.decoder(z_mean)
        bce = ops.sum(keras.losses.binary_crossentropy(images, reconstruction), axis=(1, 2))
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
        return bce + kl


def keras_io_denoiser(image_shape=(28, 28, 1)) -> keras.Model:
    """The keras.io "Convolutional autoencoder for image denoising" model, as published."""
    inputs = layers.Input(shape=image_shape)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(image_shape[-1], (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = keras.Model(inputs, x, name="keras_io_denoiser")
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def keras_io_vae(image_shape) -> keras.Model:
    model = KerasIoVAE(image_shape)
    model.compile(optimizer=keras.optimizers.Adam())
    return model


REFERENCES = {"keras_io_vae": keras_io_vae, "keras_io_denoiser": keras_io_denoiser}


def fit_arguments(name: str, x_train: np.ndarray) -> dict:
    """`fit`'s data arguments as the example passes them: numpy arrays, batch 128, shuffled;
    the denoiser's example trains on (images, images) pairs, the VAE's on images alone."""
    targets = {"y": x_train} if name == "keras_io_denoiser" else {}
    return dict(x=x_train, **targets, batch_size=REFERENCE_BATCH, shuffle=True)


def reconstruct(model: keras.Model):
    """images → {"reconstruction"}, our `serving_default` signature's contract."""
    return lambda images: {"reconstruction": model(images, training=False)}


def write_saved_model(model: keras.Model, path: Path, batch_size: int | None, image_shape):
    """The `serving_default` signature (images → reconstruction), as our exports have it.
    Not `signatures.write_saved_model`: that writes all four signatures from a convae_tf
    model's `encode`/`decode`/`score`, `image_shape` and `latent_dim`, which the references,
    kept as published, do not have."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec((batch_size, *image_shape), tf.float32, name=signatures.IMAGES)
    archive.add_endpoint(signatures.RECONSTRUCT, reconstruct(model), input_signature=[spec])
    archive.write_out(str(path), verbose=False)
