"""`sparse`: the sparse autoencoder: a penalty keeps most code units inactive for each image,
so that each unit becomes a detector of a feature that only some images have.

`regularizer` adds the penalty and logs how sparse the code is; `encode` applies the code's
activation (sigmoid for the KL penalty, ReLU for L1) so that the decoder, the penalty and the
features returned by `encode` are the same non-negative code.
"""

from __future__ import annotations

from keras import ops

from convae_tf.models import blocks, losses
from convae_tf.models.base import ConvAutoencoder
from convae_tf.models.registry import register

PENALTIES = ("kl", "l1")
DEFAULT_WEIGHTS = {"kl": 0.1, "l1": 1e-3}


@register("sparse")
class SparseAE(ConvAutoencoder):
    """Convolutional autoencoder with a sparsity penalty on its code.

    Args:
        penalty: "kl", Ng's Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the batch-mean activation of unit j of a
            sigmoid code (a rate in (0, 1), which the Bernoulli KL needs); or "l1", the L1 norm
            of a ReLU code per image (non-negative, so "inactive" means exactly 0 and the L1
            norm is the total activity, rather than a pull of signed values towards 0).
        sparsity_weight: weight of the penalty in the loss (0 turns it off); None picks the
            penalty's default (`DEFAULT_WEIGHTS`), set against the per-pixel mean
            reconstruction loss: "kl"'s brings the mean activation near ρ, "l1"'s zeroes much
            of the code at a small cost in reconstruction. The config records the value used.
            L1 on a ReLU code kills units for good once it dominates the loss: watch
            `near_zero_fraction` (experiments/results/sparse_penalties.md).
        target_activation: ρ, the target mean activation of each unit for "kl" (0.05 as in
            Ng's notes: each unit fires for about one image in twenty). Unused by "l1".
        **kwargs: the architecture, see `ConvAutoencoder`.
    """

    metric_names = (
        "loss",
        "reconstruction",
        "sparsity",
        "mean_activation",
        "near_zero_fraction",
    )
    # A unit counts as inactive below this activation (a sigmoid code never reaches 0 exactly).
    near_zero_threshold = 0.01

    def __init__(
        self,
        penalty: str = "kl",
        sparsity_weight: float | None = None,
        target_activation: float = 0.05,
        **kwargs,
    ):
        super().__init__(**kwargs)
        blocks.check_choice("penalty", penalty, PENALTIES)
        if sparsity_weight is None:
            sparsity_weight = DEFAULT_WEIGHTS[penalty]
        if float(sparsity_weight) < 0:
            raise ValueError(f"sparsity_weight={sparsity_weight} must be >= 0")
        if not 0.0 < float(target_activation) < 1.0:
            raise ValueError(f"target_activation={target_activation} must be in (0, 1)")
        self.penalty = penalty
        self.sparsity_weight = float(sparsity_weight)
        self.target_activation = float(target_activation)

    def encode(self, images, training=False):
        """Images → the sparse code: sigmoid ("kl") or ReLU ("l1") of the encoder output."""
        code = super().encode(images, training=training)
        return ops.sigmoid(code) if self.penalty == "kl" else ops.relu(code)

    def regularizer(self, encoded, images):
        code = ops.cast(encoded, "float32")
        if self.penalty == "kl":
            sparsity = losses.kl_sparsity(self.target_activation, ops.mean(code, axis=0))
        else:
            sparsity = ops.mean(losses.l1_activity(code))
        logs = {
            "sparsity": sparsity,  # unweighted, so runs with different weights compare
            "mean_activation": ops.mean(code),
            "near_zero_fraction": ops.mean(ops.cast(code < self.near_zero_threshold, "float32")),
        }
        return self.sparsity_weight * sparsity, logs
