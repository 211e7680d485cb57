"""Deployment: a run's `model.keras` -> SavedModel with named signatures -> TFLite files, parity
checks and a model card; runners that execute either format (predict).

Imports models and the run folder; the runners and `predict` need nothing but TF and LiteRT."""
