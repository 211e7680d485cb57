"""experiments/run_anchors.py: `--only` refreshes the rows it runs and keeps the others, the table
shows what each row needs; the MNIST anchors run end to end in quick mode (slow)."""

import argparse
import json
import runpy

import keras
import numpy as np
import pytest
from conftest import REPO, run_python

from convae_tf.data import load_source
from convae_tf.training import train
from experiments import run_anchors


def entry(name, status="ran", date="2026-11-27"):
    row = {"name": name, "dataset": "sprites", "reference": "ref", "status": status}
    if status == "ran":
        return row | {"seconds": 10.0, "date": date, "metrics": {"psnr": 20.0, "ssim": 0.5}}
    return row | {"reason": "data not present"}


def test_only_refreshes_its_rows_and_keeps_the_others_in_anchor_order():
    names = [anchor.name for anchor in run_anchors.ANCHORS]
    previous = {
        "quick": False,
        "date": "2026-11-20 10:00 UTC",
        "anchors": [entry(n, "skipped") for n in names],
    }
    previous["anchors"][3].pop("reason")
    previous["anchors"][3] |= {"status": "ran", "metrics": {}}  # a row without its own date
    rows = run_anchors.merged([entry(names[1], date="2026-12-01")], previous, quick=False)
    assert [row["name"] for row in rows] == names
    assert rows[1]["status"] == "ran" and rows[0]["status"] == rows[2]["status"] == "skipped"
    assert rows[1]["date"] == "2026-12-01" and rows[3]["date"] == "2026-11-20"
    # A quick report never fills a full-length table, and without one only this run's rows show.
    assert [r["name"] for r in run_anchors.merged([entry(names[1])], previous, quick=True)] == [
        names[1]
    ]
    assert len(run_anchors.merged([entry(names[1])], None, quick=False)) == 1


def test_each_row_says_when_it_ran():
    report = {
        "quick": False,
        "date": "2026-12-01 06:00 UTC",
        "total_seconds": 10.0,
        "machine": {"cpus": 2, "processor": "x86_64", "gpus": 0, "tensorflow": "2", "keras": "3"},
        "anchors": [entry("vae-sprites", date="2026-11-27"), entry("dae-sprites", "skipped")],
    }
    table = run_anchors.markdown(report)
    assert "| 10 s, 2026-11-27 |" in table and "| — |" in table
    # A kept row measured with an earlier recipe says so, until a rerun replaces it.
    report["anchors"][0]["outdated"] = "the recipe before skip connections"
    table = run_anchors.markdown(report)
    assert "| 10 s, 2026-11-27; the recipe before skip connections |" in table
    rerun = run_anchors.merged([entry("vae-sprites")], report, quick=False)
    assert "outdated" not in rerun[0]


def test_the_denoising_row_shows_the_reference_trained_side_by_side_and_the_gap():
    row = entry("dae-mnist")
    row["metrics"] |= {
        "psnr_noisy_0.4": 11.0,
        "psnr_denoised_0.4": 23.5,
        "reference_psnr_denoised_0.4": 21.25,
    }
    assert "11.00 → 23.50 dB (keras.io denoiser side by side 21.25 dB: +2.25 dB)" in (
        run_anchors.result_cell(row)
    )
    report = {
        "quick": False,
        "date": "2026-12-01 06:00 UTC",
        "total_seconds": 10.0,
        "machine": {"cpus": 2, "processor": "x86_64", "gpus": 0, "tensorflow": "2", "keras": "3"},
        "anchors": [row | {"published": "0.948 (Ruff et al. 2018)"}],
    }
    assert "| 0.948 (Ruff et al. 2018) | 10 s, 2026-11-27 |" in run_anchors.markdown(report)


def test_local_data_specs_are_present_when_their_path_exists(tmp_path):
    for scheme in ("idx", "tfrecord", "npz", "folder"):
        assert run_anchors.data_missing(f"{scheme}:{tmp_path}", None) is None
        assert "not present" in run_anchors.data_missing(f"{scheme}:{tmp_path}/absent", None)


def test_the_fashion_anchors_run_the_mnist_recipes_on_the_fashion_mnist_spec(tmp_path):
    by_name = {anchor.name: anchor for anchor in run_anchors.ANCHORS}
    for mnist in run_anchors.MNIST_ANCHORS:
        fashion = by_name[mnist.name.replace("-mnist", "-fashion")]
        assert fashion.dataset == "fashion_mnist"
        assert (fashion.config, fashion.classes, fashion.side_by_side, fashion.evaluate) == (
            mnist.config,
            mnist.classes,
            mnist.side_by_side,
            mnist.evaluate,
        )
    absent = f"idx:{tmp_path / 'fashion'}"
    args = argparse.Namespace(mnist="mnist", fashion_mnist=absent, data_dir=None)
    row = run_anchors.run_anchor(by_name["dae-fashion"], args)
    assert (row["status"], row["dataset"]) == ("skipped", absent)
    # Through TFDS, where it cannot download, the reason says how to fetch the set instead.
    reason = run_anchors.data_missing("fashion_mnist", str(tmp_path))
    assert "make data-fashion" in reason and "--fashion_mnist=idx:data/fashion_mnist" in reason


@pytest.mark.slow
def test_quick_mnist_anchors_train_their_references_side_by_side(toy_npz, tmp_path):
    """The MNIST anchors on a tiny labelled npz (what --mnist=npz:PATH takes), in quick mode:
    each run is evaluated and its keras.io reference trained on the same images."""
    flags = [f"--mnist=npz:{toy_npz}", f"--runs_dir={tmp_path / 'runs'}", "--no_readme"]
    flags += ["--quick", "--only=vae-mnist,dae-mnist,likelihood-mnist", f"--results_dir={tmp_path}"]
    result = run_python("-m", "experiments.run_anchors", *flags, cwd=REPO, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {
        row["name"]: row
        for row in json.loads((tmp_path / "anchors_quick.json").read_text())["anchors"]
    }
    assert rows.keys() == {"vae-mnist", "dae-mnist", "likelihood-mnist"}
    assert "reference_psnr_denoised_0.4" in rows["dae-mnist"]["metrics"]
    assert rows["vae-mnist"]["metrics"]["reference_neg_elbo_mean"] > 0
    likelihood = rows["likelihood-mnist"]["metrics"]
    assert 0 < likelihood["nll_is"] <= likelihood["neg_elbo"]
    # evaluate says what it is doing, stage by stage (the bounds take an hour at full length).
    log = (tmp_path / "runs/logs/likelihood-mnist.evaluate.log").read_text()
    assert "[convae_tf] evaluate: VAE bounds, k=10 posterior samples on " in log, log
    table = (tmp_path / "anchors_quick.md").read_text()
    assert "keras.io denoiser side by side" in table and "keras.io VAE side by side" in table
    # A line per stage (train, evaluate, reference, for each anchor), without TensorFlow's.
    assert result.stdout.count("[anchors] convae_tf.train → ") == 3, result.stdout
    assert result.stdout.count("[anchors] experiments.side_by_side → ") == 2, result.stdout
    assert "oneDNN" not in result.stderr and "cuda" not in result.stderr, result.stderr


@pytest.mark.slow
def test_the_denoising_recipe_does_not_collapse_on_the_embedded_sprites(sprites_dir, tmp_path):
    """dae_mnist.py's network with MSE saturated to one constant image within an epoch on the
    (mostly black) sprites, where MSE through a sigmoid has no gradient left; the recipe's
    cross-entropy trains. A collapsed model gives every image the same reconstruction."""
    config = runpy.run_path(str(REPO / "experiments/configs/dae_sprites.py"))["get_config"]()
    config.update(
        epochs=1, steps_per_epoch=30, data_dir=str(sprites_dir), workdir=str(tmp_path / "run")
    )
    train.train_and_evaluate(config)
    model = keras.models.load_model(tmp_path / "run/model.keras")
    source = load_source("sprites", data_dir=str(sprites_dir))
    images = next(iter(source.test.batch(64)))["image"]  # float32 in [0, 1]
    reconstructions = np.asarray(model(images))
    # Spread of each pixel over the 64 images, averaged: exactly 0 for the collapsed model
    # (MSE), about a fifth of the images' own spread after these 30 steps (cross-entropy).
    spread = reconstructions.std(axis=0).mean()
    assert spread > 0.1 * np.asarray(images).std(axis=0).mean()


def test_the_features_recipe_reads_its_images_through_the_code_alone():
    # It starts from the denoising recipe, which has skip connections: those would let the
    # probed code carry less of the image, so the features recipe turns them off.
    from convae_tf.models import registry
    from convae_tf.training import config

    def recipe(name):
        return runpy.run_path(str(REPO / "experiments/configs" / name))["get_config"]()

    cfg = recipe("features_mnist.py")
    assert recipe("dae_mnist.py").model_args.skip_connections
    model = registry.get(cfg.model)(**config.model_kwargs(cfg))
    assert model.decodes_codes and not model.skip_connections


def test_the_likelihood_anchor_measures_the_way_the_papers_do():
    """Burda et al.'s protocol: dynamically binarised images, and the importance-weighted bound
    with k >= 1,000 on every image of the (10,000-image) MNIST test set."""
    config = runpy.run_path(str(REPO / "experiments/configs/likelihood_mnist.py"))["get_config"]()
    assert config.binarize and config.model == "vae"
    anchor = {a.name: a for a in run_anchors.ANCHORS}["likelihood-mnist"]
    flags = dict(flag.removeprefix("--").split("=") for flag in anchor.evaluate)
    assert int(flags["iw_samples"]) >= 1000 and int(flags["iw_examples"]) >= 10_000
