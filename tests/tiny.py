"""Tiny models and images shared by the model tests (16×16×1, filters (4, 8), latent 2)."""

import keras
import numpy as np

import convae_tf

TINY = {"filters": (4, 8), "latent_dim": 2}
SHAPE = (16, 16, 1)


def tiny_model(name, **overrides):
    model = convae_tf.get_model(name, **{**TINY, **overrides})
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def images(shape=SHAPE, batch=2, seed=0):
    return np.random.default_rng(seed).random((batch, *shape), dtype=np.float32)
