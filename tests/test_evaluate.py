"""`evaluate` and `embed` on tiny trained models of every kind, and their CLI errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

from convae_tf import errors
from convae_tf.evaluation import embed, evaluate, likelihood, splits
from convae_tf.training import config, run_folder

KINDS = {
    # name: (model_args, normal_classes)
    "ae": ({}, (0,)),
    "dae": ({}, None),
    "sparse": ({}, None),
    "stacked": ({"pretrain_epochs": 0}, None),
    "vae": ({}, (0,)),
}
QUICK = evaluate.Options(iw_samples=4, iw_examples=24, probe_examples=90, max_examples=60)
RECONSTRUCTION_KEYS = {"mse", "bce", "psnr", "ssim"}
DENOISING_KEYS = {"gaussian_0.2", "gaussian_0.4", "salt_pepper_0.1", "masking_0.25"}


def _toy_images(labels, rng):
    """16×16 images: a bright square whose corner depends on the label, plus faint noise."""
    images = rng.uniform(0.0, 0.1, size=(len(labels), 16, 16, 1))
    for i, label in enumerate(labels):
        top, left = [(2, 2), (2, 9), (9, 5)][label]
        images[i, top : top + 5, left : left + 5] = 1.0
    return (images * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def npz_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 3, 240), rng.integers(0, 3, 90)
    path = tmp_path_factory.mktemp("data") / "toy.npz"
    np.savez(
        path,
        x_train=_toy_images(y_train, rng),
        x_test=_toy_images(y_test, rng),
        y_train=y_train,
        y_test=y_test,
    )
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, npz_path):
    """One tiny finished run per kind: {name: workdir}, trained in-process like train.py."""
    from convae_tf.training import train

    root = tmp_path_factory.mktemp("runs")
    workdirs = {}
    for name, (model_args, normal_classes) in KINDS.items():
        cfg = config.TrainConfig(
            model=name,
            dataset=f"npz:{npz_path}",
            epochs=1,
            steps_per_epoch=2,
            batch_size=16,
            latent_dim=3,
            model_args={"filters": (4, 8), **model_args},
            normal_classes=normal_classes,
            workdir=str(root / name),
        )
        train.train_and_evaluate(cfg)
        workdirs[name] = root / name
    return workdirs


@pytest.fixture(scope="module")
def evaluated(trained):
    return {name: evaluate.evaluate(workdir, QUICK) for name, workdir in trained.items()}


@pytest.mark.parametrize("name", list(KINDS))
def test_every_key_that_applies_is_written(name, evaluated, trained):
    results = evaluated[name]
    on_disk = config_json(trained[name] / "metrics.json")
    assert on_disk["reconstruction"].keys() >= RECONSTRUCTION_KEYS
    assert set(on_disk["denoising"]) == DENOISING_KEYS
    for entry in on_disk["denoising"].values():
        assert {"psnr_noisy", "psnr_denoised"} <= entry.keys()
    assert {"psnr_masked_before", "psnr_masked_after"} <= on_disk["inpainting"].keys()
    assert on_disk["probe"].keys() >= {"code_accuracy", "pixel_accuracy", "train_examples"}
    assert on_disk["probe"]["train_examples"] == QUICK.probe_examples
    assert ("vae" in on_disk) == (name == "vae")
    assert ("anomaly" in on_disk) == (KINDS[name][1] is not None)
    assert on_disk["num_examples"] == QUICK.max_examples
    assert results["reconstruction"] == on_disk["reconstruction"]
    assert all(np.isfinite(v) for v in on_disk["reconstruction"].values())


def test_vae_and_anomaly_sections(evaluated):
    vae = evaluated["vae"]["vae"]
    assert vae["k"] == QUICK.iw_samples and vae["bound_examples"] == QUICK.iw_examples
    assert vae["nll_is"] <= vae["neg_elbo"]
    assert len(vae["kl_per_dim"]) == 3 and 0 <= vae["active_units"] <= 3
    anomaly = evaluated["ae"]["anomaly"]
    assert anomaly["normal_classes"] == [0]
    assert 0 <= anomaly["auroc"] <= 1 and 0 <= anomaly["auprc"] <= 1
    assert anomaly["threshold_percentile"] == 95.0
    assert {"precision", "recall", "threshold"} <= anomaly.keys()


@pytest.mark.parametrize("name", list(KINDS))
def test_figures_are_written_and_not_empty(name, evaluated, trained):
    names = evaluated[name]["figures"]
    expected = {"eval_reconstructions.png", "eval_inpainting.png", "eval_codes_2d.png"}
    expected |= {f"eval_denoising_{key}.png" for key in DENOISING_KEYS}
    expected.add("training_curves.png")
    if name == "vae":
        expected |= {"eval_vae_samples.png", "eval_vae_traversal.png", "eval_vae_interpolation.png"}
    if KINDS[name][1] is not None:
        expected |= {"eval_anomaly_scores.png", "eval_anomaly_roc.png"}
    assert set(names) == expected
    for figure in names:
        assert (trained[name] / "figures" / figure).stat().st_size > 1000, figure


def test_importance_weighted_bound_is_never_worse_than_the_elbo(trained):
    run = run_folder.load_run(trained["vae"])
    source = splits.load_source(run)
    images, _ = splits.to_arrays(source.test, limit=20)
    neg_elbo, nll_is = likelihood.bounds(run.model, images, k=16, seed=3)
    assert neg_elbo.shape == nll_is.shape == (20,)
    assert np.all(nll_is <= neg_elbo + 1e-9)
    one_elbo, one_is = likelihood.bounds(run.model, images, k=1, seed=3)
    np.testing.assert_allclose(one_elbo, one_is)  # a single sample: both are the ELBO


def test_embed_writes_one_code_per_example(trained, tmp_path):
    output = tmp_path / "codes.npz"
    embed.embed(trained["vae"], output, split="test")
    with np.load(output) as saved:
        assert saved["codes"].shape == (90, 3)
        assert saved["labels"].shape == (90,)
        assert str(saved["split"]) == "test"
        codes = saved["codes"]
    run = run_folder.load_run(trained["vae"])
    images, _ = splits.to_arrays(splits.load_source(run).test)
    mean, _ = run.model.encode(images)
    np.testing.assert_allclose(codes, np.asarray(mean), rtol=1e-5, atol=1e-6)  # posterior means


def test_validation_split_holds_normal_classes_only(trained):
    run = run_folder.load_run(trained["ae"])
    _, labels = splits.to_arrays(splits.split_examples(run, splits.load_source(run), "validation"))
    assert set(labels.tolist()) == {0}


def test_bad_values_are_refused_before_any_work(trained, tmp_path):
    with pytest.raises(errors.ConfigError, match=".npz"):
        embed.embed(trained["ae"], tmp_path / "codes.txt")
    with pytest.raises(errors.ConfigError, match="split"):
        evaluate.evaluate(trained["ae"], evaluate.Options(split="holdout"))
    with pytest.raises(errors.ConfigError, match="iw_samples"):
        evaluate.evaluate(trained["ae"], evaluate.Options(iw_samples=0))


def config_json(path):
    import json

    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------ CLI
def _run(module, *flags):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", module, *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_runs(trained, tmp_path):
    result = _run(
        "convae_tf.embed",
        f"--workdir={trained['ae']}",
        "--split=validation",
        f"--output={tmp_path / 'val.npz'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "val.npz").stat().st_size > 0


@pytest.mark.parametrize(
    "module, flags, message",
    [
        ("convae_tf.evaluate", ["--workdir={missing}"], "does not exist"),
        ("convae_tf.evaluate", ["--workdir={empty}"], "no model.keras"),
        ("convae_tf.evaluate", ["--workdir={run}", "--split=holdout"], "split"),
        ("convae_tf.embed", ["--workdir={missing}", "--output={out}"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(module, flags, message, trained, tmp_path):
    (tmp_path / "empty").mkdir()
    values = {
        "missing": tmp_path / "nowhere",
        "empty": tmp_path / "empty",
        "run": trained["dae"],
        "out": tmp_path / "x.npz",
    }
    result = _run(module, *(flag.format(**values) for flag in flags))
    assert result.returncode == 2, result.stderr[-2000:]
    # "<program>.py: error: ..." (TensorFlow's own log lines say "error" too).
    errors = [line for line in result.stderr.splitlines() if ".py: error:" in line]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
