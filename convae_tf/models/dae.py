"""`dae`: the denoising autoencoder (Vincent et al., 2008): corrupt the input, rebuild the clean
image. Training inputs get fresh noise every step (`corrupt`), the loss compares the
reconstruction with the clean images (the base `loss_terms` does that), and inference
(`call(training=False)`, `encode`, `score`) sees the clean input. Validation (`test_step`, so
`val_loss`, the best checkpoint and early stopping) scores what training optimises, denoising:
each validation batch is corrupted as in training, with noise fixed by its content, so every
epoch measures the same noisy images.

For inpainting, the holes (masking, rectangles, strokes) are set to 0; with `mask_channel` the
encoder also reads where they are, as one more input channel (1 = missing), which it reads as
all zeros for an image given whole (`call`, `encode`, `score`) and as the user's mask in
`inpaint(images, masks)`. With `prefill_holes` the holes reach the encoder already filled by a
smooth interpolation of the pixels around them (models/hole_fill.py), and with `hole_weight`
the loss counts a hole's pixels more than the known ones, which `inpaint` keeps anyway. With
`noise_balance` and blind noise, the loss counts an image's error less the noisier it is.
"""

from __future__ import annotations

import dataclasses
import numbers

import keras
import tensorflow as tf
from keras import ops

from convae_tf.models import corruptions, hole_fill
from convae_tf.models.base import ConvAutoencoder
from convae_tf.models.registry import register

# The floor of both sides of a residual reconstruction's logit, log(p) − log(1 − p): the logit
# stays finite, and a pixel of 0 or 1 comes back within 1e-6, far below an 8-bit level (1/255).
_RESIDUAL_FLOOR = 1e-6


@register("dae")
class DenoisingAE(ConvAutoencoder):
    """Convolutional denoising autoencoder; the corruptions combine, each off at 0.

    Args:
        gaussian_std: σ of additive Gaussian noise, clipped to [0, 1]. The default 0.25 is a
            quarter of the [0, 1] range: strong enough that copying the input is a poor
            solution, so the model must learn the image structure, yet weak enough that the
            content stays recognisable at any resolution (Vincent et al. 2010 found σ in
            0.1–0.5 useful on natural and digit images). A (low, high) pair: blind noise, σ
            drawn for each image uniformly in [low, high] (as DnCNN-B trains, Zhang et al.
            2017), so that one model denoises every level up to `high`, e.g. (0, 50/255 ≈
            0.196) for photographs; `--model_args=gaussian_std=0,0.196`.
        salt_pepper: fraction of pixels set to 0 or 1 (salt-and-pepper noise).
        masking: fraction of pixels dropped to 0 (masking noise).
        rectangles: number of random rectangular holes (set to 0) per image, for inpainting.
        rectangle_size: (min, max) side of a hole, as fractions of the image height and width.
        strokes: number of random free-form brush strokes (set to 0) per image, for
            inpainting: random walks of 4 to 11 segments with round ends, as DeepFill v2 draws
            them (Yu et al. 2019; see `corruptions.stroke_mask`). Combine with rectangles:
            the holes are their union.
        stroke_width: (min, max) width of a stroke's brush, as fractions of the shorter image
            side (the default 0.05–0.15 is DeepFill's 12–40 pixels on 256×256 images).
        mask_channel: the encoder also reads the holes as one more input channel, C + 1 in
            all (1 where a pixel is missing), so that it knows which zeros are holes and which
            are black pixels (as in partial-convolution and DeepFill inpainting). Needs a hole
            corruption (masking, rectangles or strokes); the images a user gives keep C
            channels in every method and export signature.
        skip_connections: U-Net skip connections (Ronneberger et al. 2015; for restoration,
            RED-Net, Mao et al. 2016): each decoder block also gets the encoder's feature map
            of its size, so fine detail need not pass through the code. Sharper
            reconstructions (experiments/results/dae_mnist.md), but the decoder
            needs the encoder's maps as well as the code: no `decode(code)` (nor a `decode`
            export signature). Offered here only: with an uncorrupted input the network would
            copy it through them.
        residual: the decoder outputs a correction to the input instead of the image: the
            reconstruction is clip(input + decoder output, 0, 1), residual learning as in
            DnCNN (Zhang et al. 2017). Restoration then starts from the identity, so weak noise
            costs the network little and fine detail need not be rebuilt; for inpainting the
            correction of a hole (0 in the input, or `prefill_holes`' guess) is its fill. The
            decoder needs the input: no `decode(code)`. Offered here only, like
            `skip_connections`.
        prefill_holes: the encoder reads the holes filled by pull-push interpolation of the
            known pixels (`hole_fill.pull_push`) instead of zeros: a first guess that reaches
            the middle of a hole wider than the network sees. With `residual` the network
            then learns the correction to that guess (texture and edges).
        hole_weight: the weight of a missing pixel's error in the training loss, a known
            pixel's being 1: `inpaint` keeps the known pixels, so their reconstruction
            matters little (partial convolutions weight holes 6:1, Liu et al. 2018). Needs
            `mask_channel`, which carries the holes to the loss.
        noise_balance: c > 0 (0: off) weights each image's error in the loss by
            c / (c + s), where s is the noise level it got, measured as the RMS of the noisy
            input minus the clean image. A denoiser's mean squared error grows with σ, so
            under a plain mean the noisiest images of a blind range dominate the gradient,
            while what users measure, PSNR, is a log of the error: at every σ a fraction of
            the error counts the same (PSNR losses weight each image by 1/error for that
            reason, as HINet and NAFNet train, Chen et al. 2021, 2022). c / (c + s) follows
            1/error where a denoiser's error grows about like σ, and c caps the weight of
            nearly clean images, whose error is near 0. For Gaussian noise only (holes would
            count as noise).
        **kwargs: the architecture, see `ConvAutoencoder`.
    """

    def __init__(
        self,
        gaussian_std: float | tuple[float, float] = 0.25,
        salt_pepper: float = 0.0,
        masking: float = 0.0,
        rectangles: int = 0,
        rectangle_size: tuple[float, float] = (0.1, 0.3),
        skip_connections: bool = False,
        strokes: int = 0,
        stroke_width: tuple[float, float] = (0.05, 0.15),
        mask_channel: bool = False,
        residual: bool = False,
        prefill_holes: bool = False,
        hole_weight: float = 1.0,
        noise_balance: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Part of the network (the encoder emits its feature maps, the decoder takes them),
        # so it joins the frozen architecture, which checks it.
        self.architecture = dataclasses.replace(
            self.architecture, skip_connections=skip_connections
        )
        self.gaussian_std = _gaussian_std(gaussian_std)
        self.salt_pepper = float(salt_pepper)
        self.masking = float(masking)
        self.rectangles = int(rectangles)
        self.rectangle_size = tuple(float(s) for s in rectangle_size)
        self.strokes = int(strokes)
        self.stroke_width = tuple(float(w) for w in stroke_width)
        if not isinstance(mask_channel, bool):
            raise ValueError(f"mask_channel={mask_channel!r} must be True or False")
        self.mask_channel = mask_channel
        if not isinstance(residual, bool):
            raise ValueError(f"residual={residual!r} must be True or False")
        self.residual = residual
        if not isinstance(prefill_holes, bool):
            raise ValueError(f"prefill_holes={prefill_holes!r} must be True or False")
        self.prefill_holes = prefill_holes
        self.hole_weight = float(hole_weight)
        if self.hole_weight < 0:
            raise ValueError(f"hole_weight={hole_weight} must be >= 0")
        if self.hole_weight != 1 and not self.mask_channel:
            raise ValueError(
                f"hole_weight={hole_weight} needs mask_channel=True, which carries the holes "
                "to the loss"
            )
        self.noise_balance = float(noise_balance)
        if self.noise_balance < 0:
            raise ValueError(f"noise_balance={noise_balance} must be >= 0 (0: off)")
        if self.noise_balance and (masking or rectangles or strokes or salt_pepper):
            raise ValueError(
                f"noise_balance={noise_balance} weights by the Gaussian noise level; it cannot "
                "be combined with masking, rectangles, strokes or salt_pepper (set it to 0)"
            )
        if len(self.rectangle_size) != 2:
            raise ValueError(f"rectangle_size={rectangle_size} must be (min, max)")
        # Fail at construction, naming the argument, not at the first training step.
        for name, p in (("salt_pepper", self.salt_pepper), ("masking", self.masking)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name}={p} must be a fraction in [0, 1]")
        low, high = self.rectangle_size
        if self.rectangles < 0 or not 0 <= low <= high <= 1:
            raise ValueError(
                f"rectangles={rectangles} must be >= 0 and rectangle_size={rectangle_size} "
                "must be (min, max) fractions of the side with 0 <= min <= max <= 1"
            )
        _check_strokes(self.strokes, self.stroke_width)
        for name in ("mask_channel", "prefill_holes"):
            if getattr(self, name) and not (self.masking or self.rectangles or self.strokes):
                raise ValueError(
                    f"{name}=True needs holes to train on: set masking, rectangles or strokes"
                )
        # Owned by the model: its state advances every step (fresh noise) and is seeded by
        # keras.utils.set_random_seed (reproducible runs).
        self.seed_generator = keras.random.SeedGenerator()

    def _corruption_args(self) -> dict:
        return {
            "gaussian_std": self.gaussian_std,
            "salt_pepper": self.salt_pepper,
            "masking": self.masking,
            "rectangles": self.rectangles,
            "rectangle_size": self.rectangle_size,
            "strokes": self.strokes,
            "stroke_width": self.stroke_width,
        }

    @property
    def extra_input_channels(self) -> int:
        return int(self.mask_channel)

    @property
    def fills_holes(self) -> bool:
        return bool(self.masking or self.rectangles or self.strokes)

    def training_holes(self, images, seed=0):
        """(B, H, W, 1), 1 where training would cut a hole in `images` for `seed` (masking,
        rectangles and strokes as configured): masks of the kind the model learnt to fill."""
        holes_only = self._corruption_args() | {"gaussian_std": 0.0, "salt_pepper": 0.0}
        return corruptions.corrupt_with_mask(images, seed, **holes_only)[1]

    @property
    def decodes_codes(self) -> bool:
        return super().decodes_codes and not self.residual

    def output_logits(self, inputs, decoder_logits):
        """With `residual`: the logits of clip(image + correction, 0, 1), where the image is
        the image channels of the encoder's input and the correction the decoder's output.
        The logit is log(p) − log(q) with p = image + correction and q = (1 − image) −
        correction, each floored at a tiny positive value: p + q = 1, so the sigmoid gives p
        back (0 or 1 where p is outside), and each of p and q is computed where it is small,
        so neither rounds to 0 and gives an infinite logit. (1 − p would round to 0 near
        p = 1 in bfloat16, which the onednn_bfloat16 rewrite computes this in.)"""
        if not self.residual:
            return decoder_logits
        image = ops.cast(inputs[..., : self.image_shape[-1]], "float32")
        p = ops.maximum(image + decoder_logits, _RESIDUAL_FLOOR)
        q = ops.maximum((1.0 - image) - decoder_logits, _RESIDUAL_FLOOR)
        return ops.log(p) - ops.log(q)

    def encoder_inputs(self, images, missing=None):
        """With `prefill_holes`, the holes `missing` filled; with `mask_channel`, `missing`
        (zeros if None) as one more channel; inputs that have it already (a corrupted
        training batch) pass unchanged."""
        if self.prefill_holes and missing is not None:
            images = hole_fill.pull_push(images, missing)
        if not self.mask_channel or images.shape[-1] == self.image_shape[-1] + 1:
            return images
        if missing is None:
            missing = tf.zeros_like(images[..., :1])
        return tf.concat([images, tf.cast(missing, images.dtype)], axis=-1)

    def pixel_weights(self, inputs, images):
        """With `hole_weight`: `hole_weight` on the holes (the mask channel of `inputs`), 1
        elsewhere. With `noise_balance` c: c / (c + s) on every pixel of an image whose
        noise has RMS s, shape (batch, 1, 1, 1)."""
        if self.noise_balance:
            noise = ops.cast(inputs, "float32") - ops.cast(images, "float32")
            level = ops.sqrt(ops.mean(ops.square(noise), axis=(1, 2, 3), keepdims=True))
            return self.noise_balance / (self.noise_balance + level)
        if self.hole_weight == 1 or inputs.shape[-1] == self.image_shape[-1]:
            return None  # equal weights, or inputs without holes (a clean batch)
        missing = ops.cast(inputs[..., self.image_shape[-1] :], "float32")
        return 1.0 + (self.hole_weight - 1.0) * missing

    def corrupt(self, images, training=False):
        if not training:
            return images
        return self._corrupted_inputs(images, self.seed_generator.next())

    def _corrupted_inputs(self, images, seed):
        """The encoder's input for `images` corrupted from `seed`: with `mask_channel`,
        the holes' mask as one more channel."""
        self._ensure_built(images)  # from the images' shape, before a channel is added
        corrupted, missing = corruptions.corrupt_with_mask(images, seed, **self._corruption_args())
        return self.encoder_inputs(corrupted, missing)

    def fixed_corrupt(self, images):
        """The encoder's input for `images` corrupted as in training (see `corrupt`), with
        noise that depends on their content only: the same batch gets the same noise on every
        call, so validation losses compare from epoch to epoch. The seed is the exact integer
        sum of the pixels at 8 bits."""
        pixels = tf.round(tf.cast(images, tf.float32) * 255.0)
        return self._corrupted_inputs(images, tf.reduce_sum(tf.cast(pixels, tf.int64)))

    def test_step(self, data):
        # On clean inputs the validation loss would score reconstruction, which moves little
        # while denoising improves, and a checkpoint chosen on it need not denoise best.
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        terms = self.loss_terms(images, training=False, inputs=self.fixed_corrupt(images))
        return self._record(terms, images)


def _check_strokes(count: int, width: tuple[float, ...]) -> None:
    """Fail at construction, naming the arguments, not at the first training step."""
    if count < 0 or len(width) != 2 or not 0 <= width[0] <= width[1] <= 1:
        raise ValueError(
            f"strokes={count} must be >= 0 and stroke_width={width} must be (min, max) "
            "fractions of the shorter side with 0 <= min <= max <= 1"
        )


def _gaussian_std(value) -> float | tuple[float, float]:
    """A σ (float) or a (low, high) range of σ (a list, as a saved config holds it, too)."""
    low, high = corruptions.std_range(value, "gaussian_std")
    if isinstance(value, numbers.Real):
        return low
    return low, high
