"""Training: config -> strategy -> data -> model -> `fit` with callbacks, into a run folder.

Imports data and models; never deploy or evaluation."""
