"""Training: config -> strategy -> data -> model -> `fit` with callbacks, into a run folder.

Imports data, models and the run folder (artifacts); never deploy or evaluation."""
