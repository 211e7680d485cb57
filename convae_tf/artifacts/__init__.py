"""What a training run leaves on disk and the later stages read back: the run folder
(`run_folder`: its layout, `load_run`, atomic `save_model`, the lock of a run).

Below training, deploy and evaluation; imports models, errors and utils only."""
