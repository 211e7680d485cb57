"""Anchor: a VAE's test log-likelihood on dynamically binarised MNIST, measured as Burda et al.
2015 ("Importance Weighted Autoencoders", Table 1: VAE 86.76 nats, IWAE 82.90 nats) measure it.

Protocol: train images binarised afresh every epoch, test images once with a fixed seed; the
figure is the importance-weighted bound on −log p(x) with k = 1,000 posterior samples per image
over the whole test set. The recipe: a VAE with a 32-value latent, filters (32, 64), two
convolutions per block, a VampPrior of 500 pseudo-inputs, Bernoulli likelihood, Adam 1e-3 with a
cosine schedule over 50 epochs.

Headline (10,000 test images): NLL 81.26 nats by the bound with k = 1,000, 1.64 better than
Burda et al.'s IWAE. Protocol details, the screens and their figures:
experiments/results/likelihood_mnist.md.

Command (offline: `make data`, then add --dataset=idx:data/mnist):
    python -m convae_tf.train --config=experiments/configs/likelihood_mnist.py
    python -m convae_tf.evaluate --workdir=runs/anchors/likelihood-mnist \\
        --iw_samples=1000 --iw_examples=10000    # vae.nll_is
"""

from convae_tf.training import config as training_config


def get_config():
    config = training_config.get_config()
    config.model = "vae"
    config.dataset = "mnist"
    config.binarize = True
    config.epochs = 50
    config.batch_size = 128
    config.learning_rate = 1e-3
    config.lr_schedule = "cosine"
    config.latent_dim = 32
    config.model_args = {
        "filters": (32, 64),
        "reconstruction_loss": "bce",
        "beta": 1.0,
        # The VampPrior: −2.5 nats on the third screen.
        "prior_components": 500,
        # Two convolutions per block: −1.1 nats at full length on top of the VampPrior.
        "block_convs": 2,
    }
    config.workdir = "runs/anchors/likelihood-mnist"
    return config
