"""experiments/side_by_side.py: the keras.io references train on the run's own training images
and are measured on the test images and noise draws that `evaluate` uses (slow: each trains a
reference)."""

import copy
import json

import pytest
from conftest import tiny_run_config
from test_evaluate import QUICK

from convae_tf import data
from convae_tf.artifacts import run_folder
from convae_tf.evaluation import evaluate
from convae_tf.training import train
from experiments import side_by_side


def run_train_count(workdir):
    run = run_folder.load_run(workdir)
    source = data.load_source(run.train["dataset"])
    return data.make_pipelines(source, batch_size=16).num_train


@pytest.mark.slow
def test_the_denoiser_is_measured_on_evaluates_images_and_noise(copied_run):
    workdir = copied_run("dae")
    side_by_side.main([f"--workdir={workdir}", "--reference=keras_io_denoiser", "--epochs=1"])
    reference = json.loads((workdir / "reference.json").read_text())
    options = copy.deepcopy(QUICK)
    options.max_examples = None
    ours = evaluate.evaluate(workdir, options)
    assert reference["test_examples"] == ours["num_examples"]
    assert reference["train_examples"] == run_train_count(workdir)
    for name, section in ours["denoising"].items():
        assert reference["denoising"][name]["psnr_noisy"] == pytest.approx(section["psnr_noisy"])
    assert (workdir / reference["figures"][0]).stat().st_size > 1000


@pytest.mark.slow
def test_the_vae_reference_trains_on_the_runs_images(toy_npz, tmp_path):
    workdir = tmp_path / "vae"  # the tiny VAE run of conftest is one-class: one on every class
    train.train_and_evaluate(tiny_run_config("vae", f"npz:{toy_npz}", workdir, normal_classes=None))
    side_by_side.main([f"--workdir={workdir}", "--reference=keras_io_vae", "--epochs=1"])
    reference = json.loads((workdir / "reference.json").read_text())
    assert reference["epochs"] == 1 and reference["train_examples"] == run_train_count(workdir)
    assert reference["test_negative_elbo"] > 0 and reference["ours_test_negative_elbo"] > 0


def test_a_one_class_run_and_a_vae_reference_beside_a_non_vae_are_refused(trained_run):
    with pytest.raises(SystemExit, match="every class"):
        side_by_side.main([f"--workdir={trained_run('ae')}", "--reference=keras_io_denoiser"])
    with pytest.raises(SystemExit, match="compares VAE runs"):
        side_by_side.main([f"--workdir={trained_run('dae')}", "--reference=keras_io_vae"])
