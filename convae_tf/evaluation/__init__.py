"""Evaluation: metrics, likelihood bounds, the linear probe and the five applications of a
finished run, with figures; latent codes export (embed).

Imports data, models, the run folder and the deploy runners; nothing imports it."""
