"""`vae`: the convolutional variational autoencoder (Kingma & Welling, 2014), with β-VAE's
weight on the KL term (Higgins et al., 2017), an optional KL warm-up, optionally the
importance-weighted objective of the IWAE (Burda et al., 2016), and optionally the VampPrior
(Tomczak & Welling, 2018) in place of N(0, I).

The encoder emits a diagonal Gaussian posterior q(z|x) = N(mean, exp(log_var)) (`code_size`
doubles, `encode` returns the tuple), the decoder input is a reparameterised sample in
training and the mean otherwise (`sample_code`, so `code` is the posterior mean), and
`regularizer` adds β·KL(q(z|x) ‖ N(0, I)). Serving names the posterior's two outputs
(`encode_outputs`: "mean", "log_var").
The loss is the negative ELBO in nats per image: reconstruction summed over pixels
(`reconstruction_reduction = "sum"`) plus the KL summed over latent dimensions, averaged over
the batch. With `iw_samples=k` > 1, training minimises the importance-weighted bound instead,
−log (1/k) Σ_i w_i with w_i = p(x|z_i) p(z_i) / q(z_i|x) over k posterior samples: a tighter
bound on −log p(x) than the ELBO, for k decodes per image; validation still reports the
negative ELBO at the posterior mean, as every VAE does.

With `prior_components=K` > 0 the prior is the VampPrior, p(z) = (1/K) Σ_k q(z | u_k): the
mixture of the encoder's posteriors at K learned pseudo-inputs u_k (images, trained with the
rest). It has no closed-form KL: training estimates KL(q ‖ p) from the same posterior sample
that is decoded, log q(z|x) − log p(z); validation and `score` use a deterministic estimate
(`kl`: the unscented transform). Each step also encodes the K pseudo-inputs.

Every sample is drawn by `reparameterize`, and the training objectives and the likelihood
bounds of evaluation/likelihood.py all take their importance log-weights from
`importance_terms` (`log_importance_weights` for the bounds).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from convae_tf.models import losses
from convae_tf.models.base import ConvAutoencoder
from convae_tf.models.registry import register

# log_var = B·tanh(raw / B): ≈ raw near 0 (where it lives in practice) but bounded, so that
# exp(log_var) can neither overflow nor reach 0 (σ in [e^-5, e^5]), while the gradient never
# vanishes at a hard clip edge.
LOG_VAR_BOUND = 10.0
# A learned likelihood scale may not shrink below σ = 1e-3: on binary or quantised images the
# NLL would otherwise fall without bound as σ → 0.
MIN_LOG_SCALE = math.log(1e-3)
LOG_2PI = math.log(2.0 * math.pi)


@register("vae")
class VAE(ConvAutoencoder):
    """Convolutional VAE with a diagonal Gaussian posterior and a N(0, I) prior (or a VampPrior).

    Args:
        beta: weight of the KL term (1 is the ELBO; > 1 favours disentangled, blurrier codes).
        kl_warmup_epochs: the KL weight ramps from 0 to 1 over this many epochs (0: no
            warm-up). Done by the callback that `training_callbacks()` returns; without it the
            weight stays 1 (a plain β-VAE), never silently 0.
        gaussian_scale: σ of the Gaussian likelihood (reconstruction_loss="mse"): fixed, or
            the initial value when `learn_scale`. 0.1 is about the noise level of 8-bit
            natural images after compression, and keeps the reconstruction term dominant
            enough to avoid posterior collapse.
        learn_scale: learn σ as one trainable log-σ (reconstruction_loss="mse" only).
        iw_samples: posterior samples per training image of the importance-weighted bound
            (IWAE); 1 (the default) trains on the ELBO. Each step decodes k times as much.
        prior_components: K > 0 learns a VampPrior of K pseudo-inputs (Tomczak & Welling 2018
            use 500 on MNIST); 0 (the default) keeps N(0, I). Each step also encodes the K
            pseudo-inputs; experiments/results/likelihood_mnist.md has what they gain.
        reconstruction_loss: the decoder likelihood: "bce", Bernoulli on the logits (binary
            cross-entropy, the default for images in [0, 1]), or "mse", Gaussian with mean
            sigmoid(logits) and scale σ.
        **kwargs: the architecture, see `ConvAutoencoder` (defaults latent_dim 16,
            filters (32, 64)).
    """

    metric_names = ("loss", "reconstruction", "kl")
    reconstruction_reduction = "sum"
    is_variational = True
    # Its code splits into mean and log-variance: no any-size path (base.fully_convolutional).
    any_size_inference = False

    def __init__(
        self,
        beta: float = 1.0,
        kl_warmup_epochs: int = 0,
        gaussian_scale: float = 0.1,
        learn_scale: bool = False,
        iw_samples: int = 1,
        prior_components: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if float(beta) < 0:
            raise ValueError(f"beta={beta} must be >= 0")
        if int(kl_warmup_epochs) < 0:
            raise ValueError(f"kl_warmup_epochs={kl_warmup_epochs} must be >= 0")
        if float(gaussian_scale) <= 0:
            raise ValueError(f"gaussian_scale={gaussian_scale} must be > 0")
        if learn_scale and self.reconstruction_loss != "mse":
            raise ValueError(
                "learn_scale=True needs the Gaussian likelihood: reconstruction_loss='mse'"
            )
        if int(iw_samples) < 1:
            raise ValueError(f"iw_samples={iw_samples} must be >= 1 (1: the ELBO)")
        if int(prior_components) < 0:
            raise ValueError(
                f"prior_components={prior_components} must be >= 0 (0: the N(0, I) prior)"
            )
        self.beta = float(beta)
        self.iw_samples = int(iw_samples)
        self.prior_components = int(prior_components)
        self.kl_warmup_epochs = int(kl_warmup_epochs)
        self.gaussian_scale = float(gaussian_scale)
        self.learn_scale = bool(learn_scale)
        # Multiplies β·KL; set by the KLWarmUp callback at each epoch. A variable (not a Python
        # float) so that the compiled train step reads its current value, and it is saved in
        # `.keras` files: a model reloaded mid-warm-up resumes with the weight it had.
        self.kl_weight = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="kl_weight"
        )
        self.seed_generator = keras.random.SeedGenerator()

    def code_size(self) -> int:
        return 2 * self.latent_dim

    def build(self, input_shape):
        super().build(input_shape)
        if self.learn_scale:
            self.log_scale = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(math.log(self.gaussian_scale)),
                name="log_scale",
            )
        if self.prior_components:
            # In logit space, so the pseudo-inputs stay images in [0, 1]. sigmoid(−2 ± 0.5):
            # dim noise, about MNIST's mean intensity; they move away from it in training.
            self.pseudo_logits = self.add_weight(
                shape=(self.prior_components, *input_shape[1:]),
                initializer=keras.initializers.RandomNormal(-2.0, 0.5, seed=0),
                name="pseudo_inputs",
            )

    def training_callbacks(self) -> list:
        return [KLWarmUp(self.kl_warmup_epochs)] if self.kl_warmup_epochs else []

    # ------------------------------------------------------------------------------ hooks
    def encode(self, images, training=False):
        """Images → (mean, log_var) of the posterior, each (batch, latent_dim)."""
        moments = super().encode(images, training=training)
        mean, raw_log_var = ops.split(moments, 2, axis=-1)
        return mean, LOG_VAR_BOUND * ops.tanh(raw_log_var / LOG_VAR_BOUND)

    def encode_outputs(self, images) -> dict:
        mean, log_var = self.encode(images, training=False)
        return {"mean": mean, "log_var": log_var}

    def sample_code(self, encoded, training=False):
        """z = mean + σ·ε, ε ~ N(0, I) in training (reparameterisation); the mean otherwise."""
        mean, log_var = encoded
        if not training:
            return mean
        epsilon = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return reparameterize(mean, log_var, epsilon)

    def regularizer(self, encoded, images):
        kl = ops.mean(self.kl(encoded))
        return ops.cast(self.kl_weight, "float32") * self.beta * kl, {"kl": kl}

    def reconstruction_error(self, images, logits):
        """−log p(x | z) per image, in nats (summed over pixels)."""
        if self.reconstruction_loss == "bce":
            return super().reconstruction_error(images, logits)
        log_scale = (
            ops.maximum(self.log_scale, MIN_LOG_SCALE)
            if self.learn_scale
            else math.log(self.gaussian_scale)
        )
        return losses.gaussian_nll(ops.cast(images, "float32"), ops.sigmoid(logits), log_scale)

    def loss_terms(self, images, training=False, inputs=None) -> dict:
        if training and self.iw_samples > 1:
            return self._importance_weighted_terms(images)
        if training and self.prior_components:
            return self._sampled_kl_terms(images)
        return super().loss_terms(images, training=training, inputs=inputs)

    def _sampled_kl_terms(self, images) -> dict:
        """The ELBO's loss with the KL estimated from the decoded sample z ~ q(z|x):
        −log p(x|z) + β·(log q(z|x) − log p(z)) (the VampPrior has no closed-form KL)."""
        encoded = self.encode(self.corrupt(images, training=True), training=True)
        log_likelihood, log_ratio = self.importance_terms(
            images, encoded, self._posterior_noise(1, encoded), training=True
        )
        reconstruction = -ops.mean(log_likelihood)
        kl = ops.mean(log_ratio)
        loss = reconstruction + ops.cast(self.kl_weight, "float32") * self.beta * kl
        if self.losses:  # activity or weight regularizers declared on layers
            loss = loss + ops.sum(self.losses)
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl}

    def _importance_weighted_terms(self, images) -> dict:
        """The IWAE loss −log (1/k) Σ_i w_i, averaged over the batch; logs its reconstruction
        term averaged over the k samples and the analytic KL, as the ELBO's loss does.
        β and the warm-up weight scale log q(z|x) − log p(z), so β = 1 is Burda et al.'s."""
        k = self.iw_samples
        encoded = self.encode(self.corrupt(images, training=True), training=True)
        log_likelihood, log_ratio = self.importance_terms(
            images, encoded, self._posterior_noise(k, encoded), training=True
        )
        weight = ops.cast(self.kl_weight, "float32") * self.beta
        log_w = log_likelihood - weight * log_ratio
        bound = ops.logsumexp(log_w, axis=0) - math.log(k)
        loss = -ops.mean(bound)
        if self.losses:  # activity or weight regularizers declared on layers
            loss = loss + ops.sum(self.losses)
        return {
            "loss": loss,
            "reconstruction": -ops.mean(log_likelihood),
            "kl": ops.mean(self.kl(encoded)),
        }

    def _posterior_noise(self, k: int, encoded):
        """ε ~ N(0, I) of shape (k, batch, latent_dim): k posterior samples per image."""
        return keras.random.normal((k, *ops.shape(encoded[0])), seed=self.seed_generator)

    # ---------------------------------------------------------------- importance weights
    def importance_terms(self, images, encoded, epsilon, training=False, components=None):
        """The two parts of the importance log-weights of k posterior samples per image.

        The samples are z_i = mean + σ·ε_i for `epsilon` of shape (k, batch, latent_dim) and
        `encoded` = (mean, log_var); `images` are the targets, so a denoising caller encodes
        the corrupted input and scores the clean one. Returns (log p(x|z_i), log q(z_i|x) −
        log p(z_i)), each (k, batch), in nats; `components` as in `log_prior`.
        """
        mean, log_var = (ops.cast(t, "float32") for t in encoded)
        epsilon = ops.cast(epsilon, "float32")
        k = ops.shape(epsilon)[0]
        z = reparameterize(mean, log_var, epsilon)  # (k, batch, latent)
        # Sample-major: the codes of sample i are rows i·batch … (i+1)·batch − 1, matching
        # the images tiled k times.
        logits = self.decode_logits(ops.reshape(z, (-1, self.latent_dim)), training=training)
        tiled = ops.tile(images, (k, 1, 1, 1))
        log_likelihood = -ops.reshape(self.reconstruction_error(tiled, logits), (k, -1))
        log_prior = self.log_prior(z, training=training, components=components)
        return log_likelihood, _log_posterior(epsilon, log_var) - log_prior

    def log_importance_weights(self, images, epsilon, encoded=None, components=None):
        """log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x) of the k posterior samples
        z_i = mean + σ·ε_i (`epsilon` (k, batch, latent_dim)), shape (k, batch), in nats.

        With β = 1 whatever the training β: the terms of the model's bounds on −log p(x)
        (the negative ELBO −mean_i log w_i, the importance-weighted −log mean_i w_i), not its
        training loss. `encoded`: the posterior of `images` if already computed;
        `components`: `prior_posteriors()`, for a caller that scores many chunks of samples.
        """
        if encoded is None:
            encoded = self.encode(images)
        log_likelihood, log_ratio = self.importance_terms(
            images, encoded, epsilon, components=components
        )
        return log_likelihood - log_ratio

    # --------------------------------------------------------------------------- inference
    def score_of(self, images, encoded, logits):
        """`reconstruction_score`: per-example negative ELBO in nats, at the posterior mean:
        −log p(x | z = mean) + KL(q(z|x) ‖ p(z)) (`kl`).

        Deterministic (no sampling), and with β = 1 and no warm-up weight: the model's
        estimate of −log p(x) (a one-point estimate of the expected reconstruction term), so
        that scores compare across β. Higher means less likely: an anomaly score.
        """
        return self.reconstruction_error(images, logits) + self.kl(encoded)

    def sample(self, n: int, seed: int | None = None):
        """`n` images drawn from the prior: decode(z), z ~ p(z); shape (n, H, W, C), in
        [0, 1] (the decoder's mean, not a sampled pixel value). The same int `seed` gives the
        same images; None draws new ones each call. Needs a built model."""
        if not self.prior_components:
            return self.decode(keras.random.normal((int(n), self.latent_dim), seed=seed))
        seeds = keras.random.SeedGenerator(seed)
        # A component of the mixture per image, then a draw from its posterior.
        component = keras.random.randint((int(n),), 0, self.prior_components, seed=seeds)
        mean, log_var = (ops.take(t, component, axis=0) for t in self.prior_posteriors())
        epsilon = keras.random.normal(ops.shape(mean), seed=seeds)
        return self.decode(reparameterize(mean, log_var, epsilon))

    def prior_posteriors(self, training=False):
        """The VampPrior's components: (mean, log_var) of q(z | u_k), each (K, latent_dim);
        None for the N(0, I) prior."""
        if not self.prior_components:
            return None
        moments = self.encode(ops.sigmoid(self.pseudo_logits), training=training)
        return tuple(ops.cast(t, "float32") for t in moments)

    def log_prior(self, z, training=False, components=None):
        """log p(z) in nats for codes z of shape (..., latent_dim): N(0, I), or the VampPrior's
        log (1/K) Σ_k N(z; mean_k, exp(log_var_k)). `components`: `prior_posteriors()`, from
        a caller that scores many chunks of codes and encodes the pseudo-inputs once."""
        z = ops.cast(z, "float32")
        if not self.prior_components:
            return -0.5 * ops.sum(ops.square(z) + LOG_2PI, axis=-1)
        mean, log_var = components or self.prior_posteriors(training=training)  # (K, D) each
        precision = ops.exp(-log_var)
        rows = ops.reshape(z, (-1, self.latent_dim))
        # Σ_d (z_d − m_kd)² / σ_kd² expanded into matrix products, so that memory grows with
        # rows × K, not rows × K × D.
        squared = (
            ops.matmul(ops.square(rows), ops.transpose(precision))
            - 2.0 * ops.matmul(rows, ops.transpose(mean * precision))
            + ops.sum(ops.square(mean) * precision, axis=-1)
        )
        log_components = -0.5 * (
            self.latent_dim * LOG_2PI + ops.sum(log_var, axis=-1) + squared
        )  # (rows, K)
        log_p = ops.logsumexp(log_components, axis=-1) - math.log(self.prior_components)
        return ops.reshape(log_p, ops.shape(z)[:-1])

    def kl(self, encoded):
        """KL(q(z|x) ‖ p(z)) per example, deterministic and free of random ops (so it
        exports): in closed form for N(0, I); for the VampPrior, −H[q(z|x)] − E_q[log p(z)],
        the entropy exact and the expectation by the unscented transform: the mean of log p
        at the 2·D points mean ± √D·σ_d along each axis d (exact when log p is quadratic, as
        N(0, I)'s is)."""
        mean, log_var = (ops.cast(t, "float32") for t in encoded)
        if not self.prior_components:
            return losses.gaussian_kl(mean, log_var)
        neg_entropy = -0.5 * ops.sum(1.0 + LOG_2PI + log_var, axis=-1)
        axes = ops.eye(self.latent_dim)
        directions = ops.concatenate([axes, -axes], axis=0)  # (2D, D)
        # (batch, 2D, D): mean + σ·ε at ε = ±√D along each axis.
        steps = math.sqrt(self.latent_dim) * directions[None]
        points = reparameterize(mean[:, None, :], log_var[:, None, :], steps)
        return neg_entropy - ops.mean(self.log_prior(points), axis=-1)


def reparameterize(mean, log_var, epsilon):
    """z = mean + σ·ε with σ = exp(log_var / 2): a draw from N(mean, exp(log_var)) for
    ε ~ N(0, I), differentiable in the mean and the log-variance (the reparameterisation
    trick). Broadcasts, so that k samples take `epsilon` of shape (k, batch, latent_dim)."""
    return mean + ops.exp(0.5 * log_var) * epsilon


def _log_posterior(epsilon, log_var):
    """log q(z|x) of z = mean + σ·ε, written in ε (exact, and stable for small σ)."""
    return -0.5 * ops.sum(ops.square(epsilon) + log_var + LOG_2PI, axis=-1)


class KLWarmUp(keras.callbacks.Callback):
    """Ramps the model's non-trainable `kl_weight` linearly from 0 to 1 over `epochs` epochs.

    At the start of epoch e (counted from 0, so `initial_epoch` and BackupAndRestore resume the
    ramp where it was) the weight is min(1, e / epochs): 0 in the first epoch, 1 from epoch
    `epochs` on. Starting with the reconstruction alone lets the decoder learn to use the code
    before the KL term pulls the posterior towards the prior (posterior collapse; Bowman et al.
    2016, Sønderby et al. 2016). The weight is also logged as `kl_weight`.
    """

    def __init__(self, epochs: int):
        super().__init__()
        if int(epochs) < 0:
            raise ValueError(f"epochs={epochs} must be >= 0")
        self.epochs = int(epochs)

    def weight(self, epoch: int) -> float:
        return 1.0 if self.epochs == 0 else min(1.0, epoch / self.epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_weight.assign(self.weight(epoch))

    # Validation measures the full objective (weight 1): otherwise val_loss would favour the
    # early warm-up epochs, and ModelCheckpoint / EarlyStopping would pick those.
    def on_test_begin(self, logs=None):
        self._training_weight = float(keras.ops.convert_to_numpy(self.model.kl_weight))
        self.model.kl_weight.assign(1.0)

    def on_test_end(self, logs=None):
        self.model.kl_weight.assign(self._training_weight)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["kl_weight"] = float(keras.ops.convert_to_numpy(self.model.kl_weight))
