"""One config system: defaults < config file (--config) < --config.FIELD < --FIELD, resolved
in-process exactly as the CLIs resolve it, and the errors it raises."""

import ast
import concurrent.futures
import re

import pytest
from absl import flags
from conftest import REPO, run_cli

from convae_tf import cli, errors
from convae_tf.deploy import export
from convae_tf.evaluation import embed, evaluate
from convae_tf.training import config

EXPERIMENTS = sorted((REPO / "experiments/configs").glob("*.py"))


def resolve(*args, fields=config.FIELDS):
    """The config that `python -m PROGRAM *args` runs with."""
    argv = ["program", *args]
    flag_values = flags.FlagValues()
    config_flags = cli.define_config_flags(fields, flag_values=flag_values, argv=argv)
    flag_values(argv)
    return config_flags.resolve()


def write_experiment(path, *lines):
    path.write_text(
        "from convae_tf.training import config as training_config\n\n\n"
        "def get_config():\n"
        "    config = training_config.get_config()\n"
        + "".join(f"    {line}\n" for line in lines)
        + "    return config\n"
    )
    return f"--config={path}"


@pytest.fixture
def experiment(tmp_path):
    return write_experiment(
        tmp_path / "experiment.py",
        "config.epochs = 7",
        "config.batch_size = 32",
        "config.model_args = {'filters': (32, 64), 'pooling': 'max'}",
    )


def test_without_flags_the_defaults_apply():
    assert resolve().to_dict() == config.get_config().to_dict()


def test_the_file_overrides_the_defaults_and_flags_override_the_file(experiment):
    cfg = resolve(experiment, "--epochs=3")
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate) == (
        3,
        32,
        config.get_config().learning_rate,
    )


def test_config_dot_field_overrides_the_file_and_short_flags_override_it(experiment):
    assert resolve("--config.epochs=4").epochs == 4  # no file: over the defaults
    assert resolve(experiment, "--config.epochs=4").epochs == 4
    assert resolve(experiment, "--config.epochs=4", "--epochs=5").epochs == 5
    cfg = resolve(experiment, "--config.model_args.pooling=avg", "--config.latent_dim=8")
    assert cfg.model_args.to_dict() == {"filters": (32, 64), "pooling": "avg"}
    assert cfg.latent_dim == 8


def test_model_args_flags_merge_over_the_files_and_parse_literals(experiment):
    cfg = resolve(
        experiment, "--model_args=pooling=avg", "--model_args=filters=8,16", "--model_args=beta=4"
    )
    assert cfg.model_args.to_dict() == {"filters": (8, 16), "pooling": "avg", "beta": 4}
    assert config.model_kwargs(resolve(experiment, "--latent_dim=3"))["latent_dim"] == 3


def test_fields_that_default_to_none_parse_from_the_command_line():
    cfg = resolve(
        "--latent_dim=8",
        "--image_size=32,32",
        "--normal_classes=1,7",
        "--steps_per_epoch=5",
        "--data_dir=/data",
        "--nodeterministic",
    )
    assert (cfg.latent_dim, cfg.image_size, cfg.normal_classes) == (8, (32, 32), (1, 7))
    assert (cfg.steps_per_epoch, cfg.data_dir, cfg.deterministic) == (5, "/data", False)
    assert resolve("--normal_classes=0").normal_classes == (0,)
    assert resolve("--config.image_size=16,16").image_size == (16, 16)


def test_the_resolved_config_refuses_new_fields():
    with pytest.raises(AttributeError):
        resolve().epoch = 3


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_files_in_the_repo_load(path):
    cfg = config.validate(resolve(f"--config={path}"))
    assert cfg.workdir.startswith("runs/")
    if path.stem == "ae_sprites":
        assert cfg.model == "ae" and config.model_kwargs(cfg)["latent_dim"] == 16


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_recipe_docstrings_are_short_and_name_paths_that_exist(path):
    """A recipe reads in a minute: its command, with its own path, and the results documents it
    points to, which exist (the screens and measured figures live there, not in the recipe)."""
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert len(doc.splitlines()) <= 25, len(doc.splitlines())
    assert f"--config=experiments/configs/{path.name}" in doc
    for named in re.findall(r"experiments/results/[\w.]+\.md", doc):
        assert (REPO / named).is_file(), named


@pytest.mark.parametrize(
    "body, message",
    [
        (None, "no such file"),
        ("def get_config():\n    return {'epoch': 3}\n", "unknown fields \\['epoch'\\]"),
        (
            "from convae_tf.training import config\n\n"
            "def get_config():\n    c = config.get_config()\n    c.epoch = 3\n    return c\n",
            "unknown fields \\['epoch'\\]",
        ),
        ("def get_config(:\n", "could not be run: SyntaxError"),
        ("def get_config():\n    return 1 / 0\n", "could not be run: ZeroDivisionError"),
        ("CONFIG = {}\n", "defines no get_config"),
        ("def get_config():\n    return {'epochs': 'ten'}\n", "wrong type"),
    ],
)
def test_config_file_errors_are_one_line_naming_the_problem(tmp_path, body, message):
    path = tmp_path / "experiment.py"
    if body is not None:
        path.write_text(body)
    with pytest.raises(flags.Error, match=message) as raised:
        resolve(f"--config={path}")
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "args, error, message",
    [
        (["--config.epoch=3"], errors.ConfigError, "unknown fields \\['epoch'\\]"),
        (["--model_args=pooling"], flags.Error, "key=value"),
        (["--epochs=ten"], flags.Error, "--epochs"),
        (["--config.epochs=ten"], flags.Error, "--config.epochs"),
        (
            ["--config.epochs=3", "--config=experiments/configs/ae_sprites.py"],
            flags.Error,
            "before a value for --config",
        ),
    ],
)
def test_bad_flags_are_named(args, error, message):
    with pytest.raises(error, match=message):
        resolve(*args)


@pytest.mark.parametrize(
    "values, word",
    [
        ({"epochs": 0}, "--epochs"),
        ({"validation_fraction": 1.5}, "--validation_fraction"),
        ({"strategy": "gpu"}, "--strategy"),
        ({"precision": "float8"}, "--precision"),
        ({"image_size": (32,)}, "--image_size"),
        ({"image_size": ("a,b",)}, "--image_size"),
        ({"normal_classes": ("a",)}, "--normal_classes"),
        ({"logical_cpus": -1}, "--logical_cpus"),
        ({"lr_schedule": "linear"}, "--lr_schedule"),
        ({"channels": 2}, "--channels=2 is not valid; choose 1 \\(gray\\), 3"),
    ],
)
def test_bad_values_are_named(values, word):
    cfg = config.get_config()
    cfg.update(values)
    with pytest.raises(errors.ConfigError, match=word):
        config.validate(cfg)


def test_a_misspelt_field_set_in_python_is_refused():
    cfg = config.get_config()
    cfg.epoch = 3  # a ConfigDict from get_config() takes new fields, as a config file may
    with pytest.raises(errors.ConfigError, match="unknown fields \\['epoch'\\]"):
        config.validate(cfg)


def test_a_field_defaulting_to_none_needs_a_type():
    with pytest.raises(TypeError, match="placeholder"):
        cli.define_config_flags({"size": (None, "A size.")}, flag_values=flags.FlagValues())


def test_default_workdir_is_named_after_model_and_dataset():
    cfg = config.get_config()
    cfg.update(model="ae", dataset="npz:/data/my set.npz")
    assert str(config.resolved_workdir(cfg)) == "runs/ae-npz-my-set.npz"
    cfg.update(dataset="idx:data/mnist/")
    assert str(config.resolved_workdir(cfg)) == "runs/ae-idx-mnist"
    cfg.update(dataset="cifar10/v2")
    assert str(config.resolved_workdir(cfg)) == "runs/ae-cifar10-v2"
    assert str(config.resolved_workdir(config.get_config())) == "runs/vae-sprites"


def test_evaluate_embed_and_export_resolve_through_the_same_plumbing(tmp_path):
    options = resolve("--config.iw_samples=5", "--split=validation", fields=evaluate.FIELDS)
    assert (options.iw_samples, options.split) == (5, "validation")
    assert options.probe_examples == evaluate.get_config().probe_examples
    quick = tmp_path / "quick.py"
    quick.write_text(
        "from convae_tf.evaluation import evaluate\n\n"
        "def get_config():\n    c = evaluate.get_config()\n    c.max_examples = 60\n    return c\n"
    )
    options = resolve(f"--config={quick}", "--seed=3", fields=evaluate.FIELDS)
    assert (options.max_examples, options.seed) == (60, 3)
    assert resolve("--split=train", fields=embed.FIELDS).split == "train"
    options = resolve("--quantize=all", "--config.calibration_images=10", fields=export.FIELDS)
    assert (options.quantize, options.calibration_images, options.out) == ("all", 10, None)


# Each CLI's flags: its config's fields and the flags that are not part of a config.
PROGRAMS = {
    "train": [*config.FIELDS, "overwrite"],
    "evaluate": [*evaluate.FIELDS, "workdir"],
    "embed": [*embed.FIELDS, "workdir", "output"],
    "export": [*export.FIELDS, "workdir"],
}


def help_text(program: str) -> str:
    return run_cli(program, "--help").stdout


@pytest.mark.slow
def test_help_of_each_cli_lists_each_field_once():
    with concurrent.futures.ThreadPoolExecutor(len(PROGRAMS)) as pool:
        helps = dict(zip(PROGRAMS, pool.map(help_text, PROGRAMS), strict=True))
    for program, names in PROGRAMS.items():
        listed = re.findall(r"^  --(?:\[no\])?([\w.]+):", helps[program], re.MULTILINE)
        assert sorted(listed) == sorted([*names, "config"]), (program, helps[program])
