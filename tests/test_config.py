"""Config resolution: defaults ← experiment file ← flags, and the errors it raises."""

import pytest

from convae_tf import errors
from convae_tf.training import config


def test_flags_override_the_experiment_which_overrides_defaults():
    cfg = config.resolve({"epochs": 7, "batch_size": 32}, {"epochs": 3})
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate) == (
        3,
        32,
        config.TrainConfig().learning_rate,
    )


def test_experiment_files_in_the_repo_load(tmp_path):
    overrides = config.load_experiment("experiments/ae_sprites.py")
    cfg = config.resolve(overrides, {})
    assert cfg.model == "ae" and cfg.model_kwargs()["latent_dim"] == 16


def test_experiment_errors_are_named(tmp_path):
    with pytest.raises(errors.ConfigError, match="no such file"):
        config.load_experiment(str(tmp_path / "missing.py"))
    bad = tmp_path / "bad.py"
    bad.write_text("def get_config():\n    return {'epoch': 3}\n")
    with pytest.raises(errors.ConfigError, match="unknown fields \\['epoch'\\]"):
        config.load_experiment(str(bad))
    broken = tmp_path / "broken.py"
    broken.write_text("def get_config(:\n")
    with pytest.raises(errors.ConfigError, match="could not be run"):
        config.load_experiment(str(broken))


@pytest.mark.parametrize(
    "values, word",
    [
        ({"epochs": 0}, "--epochs"),
        ({"validation_fraction": 1.5}, "--validation_fraction"),
        ({"strategy": "gpu"}, "--strategy"),
        ({"image_size": (32,)}, "--image_size"),
    ],
)
def test_bad_values_are_named(values, word):
    with pytest.raises(errors.ConfigError, match=word):
        config.resolve({}, values)


def test_model_args_parse_literals_and_strings():
    parsed = config.parse_model_args(["filters=32,64", "pooling=avg", "latent_dim=8"])
    assert parsed == {"filters": (32, 64), "pooling": "avg", "latent_dim": 8}
    with pytest.raises(errors.ConfigError, match="key=value"):
        config.parse_model_args(["pooling"])


def test_default_workdir_is_named_after_model_and_dataset():
    assert str(
        config.TrainConfig(model="ae", dataset="npz:/data/my set.npz").resolved_workdir()
    ) == ("runs/ae-npz-my-set.npz")
    assert str(config.TrainConfig(model="vae").resolved_workdir()) == "runs/vae-sprites"
