"""`evaluate` and `embed` in-process on conftest's tiny runs of every kind; one CLI run (slow).
Their bad input on the command line: tests/test_bad_input.py."""

import copy
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import images, make_workdir, run_cli, run_kind, tiny_model

import convae_tf
from convae_tf import errors
from convae_tf.artifacts import run_folder
from convae_tf.evaluation import applications, embed, evaluate, likelihood, splits
from convae_tf.models import base, registry

KINDS = convae_tf.list_models()
QUICK = evaluate.get_config()
QUICK.update(iw_samples=4, iw_examples=24, probe_examples=90, max_examples=60)
RECONSTRUCTION_KEYS = {"mse", "bce", "psnr", "ssim"}
DENOISING_KEYS = {"gaussian_0.2", "gaussian_0.4", "salt_pepper_0.1", "masking_0.25"}


def normal_classes(name):
    return run_kind(name)[1]


@pytest.fixture(scope="module")
def trained(trained_run):
    """One tiny finished run per kind (conftest's trained_run): {name: workdir}."""
    return {name: trained_run(name) for name in KINDS}


@pytest.fixture(scope="module")
def evaluated(trained):
    return {name: evaluate.evaluate(workdir, QUICK) for name, workdir in trained.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", KINDS)
def test_every_key_that_applies_is_written(name, evaluated, trained):
    results = evaluated[name]
    on_disk = json.loads((trained[name] / "metrics.json").read_text())
    assert on_disk["reconstruction"].keys() >= RECONSTRUCTION_KEYS
    assert set(on_disk["denoising"]) == DENOISING_KEYS
    for entry in on_disk["denoising"].values():
        assert {"psnr_noisy", "psnr_denoised"} <= entry.keys()
    assert {"psnr_masked_before", "psnr_masked_after"} <= on_disk["inpainting"].keys()
    assert on_disk["probe"].keys() >= {"code_accuracy", "pixel_accuracy", "train_examples"}
    assert on_disk["probe"]["train_examples"] == QUICK.probe_examples
    assert ("vae" in on_disk) == registry.get(name).is_variational
    assert ("anomaly" in on_disk) == (normal_classes(name) is not None)
    assert on_disk["num_examples"] == QUICK.max_examples
    assert results["reconstruction"] == on_disk["reconstruction"]
    assert all(np.isfinite(v) for v in on_disk["reconstruction"].values())


@pytest.mark.slow
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
    # Measured on the test split: the rate reached on its normal images is the one above.
    assert anomaly["asked_fpr"] == pytest.approx(0.05)
    assert anomaly["test_fpr"] == anomaly["false_positive_rate"]
    assert anomaly["test_normal_examples"] == anomaly["num_normal"]
    assert "optimistic" in anomaly["calibration"]  # too few validation images to split


def test_the_threshold_is_calibrated_apart_from_the_fit_and_checked_on_normal_test_images(
    copied_run, monkeypatch
):
    """Half of the validation split (odd positions) calibrates; the rate reached is that of
    the test split's normal images, whatever split is measured. The score here is each image's
    mean, so both are known."""
    workdir = copied_run("ae")
    config = json.loads((workdir / "config.json").read_text())
    config["train"]["validation_fraction"] = 0.5  # enough held-out images to split
    (workdir / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(base.ConvAutoencoder, "score", lambda self, x: np.mean(x, (1, 2, 3)))
    options = copy.deepcopy(QUICK)
    options.update(split="train")
    section = evaluate.evaluate(workdir, options)["anomaly"]

    run = run_folder.load_run(workdir)
    source = splits.load_source(run)
    validation, _ = splits.to_arrays(splits.split_examples(run, source, "validation"))
    calibration = validation[1::2].mean((1, 2, 3))
    assert section["calibration_examples"] == len(calibration)
    assert section["fit_examples"] == len(validation) - len(calibration)
    assert section["threshold"] == pytest.approx(np.percentile(calibration, 95))
    test, labels = splits.to_arrays(splits.split_examples(run, source, "test"))
    normal_test = test[labels == 0].mean((1, 2, 3))
    assert section["test_normal_examples"] == len(normal_test) < len(test)
    assert section["test_fpr"] == pytest.approx(np.mean(normal_test > section["threshold"]))


@pytest.mark.slow
@pytest.mark.parametrize("name", KINDS)
def test_figures_are_written_and_not_empty(name, evaluated, trained):
    names = evaluated[name]["figures"]
    expected = {"eval_reconstructions.png", "eval_inpainting.png", "eval_codes_2d.png"}
    expected |= {f"eval_denoising_{key}.png" for key in DENOISING_KEYS}
    expected.add("training_curves.png")
    if registry.get(name).is_variational:
        expected |= {"eval_vae_samples.png", "eval_vae_traversal.png", "eval_vae_interpolation.png"}
    if normal_classes(name) is not None:
        expected |= {"eval_anomaly_scores.png", "eval_anomaly_roc.png"}
    assert set(names) == expected
    for figure in names:
        assert (trained[name] / "figures" / figure).stat().st_size > 1000, figure


def test_a_vamp_prior_vae_reports_its_own_kl(tmp_path):
    """With a VampPrior the KL has no per-dimension split: `kl` is the model's estimate, and
    the bounds and figures are made with its prior."""
    workdir = make_workdir(tmp_path, "vae", filters=(4, 8), latent_dim=3, prior_components=4)
    section = evaluate.evaluate(workdir, QUICK)["vae"]
    assert "kl_per_dim" not in section and np.isfinite(section["kl"])
    assert section["nll_is"] <= section["neg_elbo"]
    assert (workdir / "figures" / "eval_vae_traversal.png").stat().st_size > 0


def test_importance_weighted_bound_is_never_worse_than_the_elbo(trained):
    run = run_folder.load_run(trained["vae"])
    source = splits.load_source(run)
    images, _ = splits.to_arrays(source.test, limit=20)
    done = []
    neg_elbo, nll_is = likelihood.bounds(
        run.model, images, k=16, seed=3, batch_size=8, progress=done.append
    )
    assert neg_elbo.shape == nll_is.shape == (20,)
    assert np.all(nll_is <= neg_elbo + 1e-9)
    assert done == [8, 16, 20]  # images done after each batch
    silent = likelihood.bounds(run.model, images, k=16, seed=3, batch_size=8)
    np.testing.assert_array_equal(silent[1], nll_is)  # reporting progress changes nothing
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
    for change, message in [
        ({"split": "holdout"}, "split"),
        ({"iw_samples": 0}, "iw_samples"),
        ({"probe_examples": -1}, "probe_examples"),
    ]:
        options = evaluate.get_config()
        options.update(change)
        with pytest.raises(errors.ConfigError, match=message):
            evaluate.evaluate(trained["ae"], options)
    with pytest.raises(errors.ConfigError, match="unknown fields \\['splitt'\\]"):
        embed.embed(trained["ae"], tmp_path / "codes.npz", splitt="train")


def test_probe_examples_zero_trains_the_probe_on_the_whole_train_split(trained, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(trained["ae"], workdir)  # evaluate rewrites metrics.json
    options = copy.deepcopy(QUICK)
    options.probe_examples = 0
    probe = evaluate.evaluate(workdir, options)["probe"]
    run = run_folder.load_run(workdir)
    assert probe["train_examples"] == splits.load_source(run).num_train > QUICK.probe_examples


# ------------------------------------------------------------------------------ streaming
class Reads:
    """Counts the images of the measured (test) split read, and those inpainted (once per
    image in any evaluation): `pending` holds, at each read, the images read but not yet
    inpainted, what memory would hold of the split."""

    def __init__(self):
        self.read = self.inpainted = 0
        self.pending = []

    def note(self, image):
        self.read += 1
        self.pending.append(self.read - self.inpainted)
        return image

    def examples(self, examples):
        def noted(example):
            image = tf.numpy_function(self.note, [example["image"]], tf.float32, stateful=True)
            return {**example, "image": tf.ensure_shape(image, example["image"].shape)}

        # Autotuned parallelism (read-ahead) as on a 2-core machine, whatever this one is.
        options = tf.data.Options()
        options.autotune.cpu_budget = 2
        return examples.map(noted).with_options(options)


def test_evaluate_reads_the_split_a_batch_at_a_time(copied_run, monkeypatch):
    """Memory holds a batch of the measured split, never the split: in batches of 8, no image
    is read while more than a few batches of those read are not yet measured (read whole
    first, all 90 test images would be). Reruns give the same metrics, and --max_examples
    bounds what is read."""
    reads = Reads()
    monkeypatch.setattr(applications, "BATCH", 8, raising=False)
    inpaint = base.ConvAutoencoder.inpaint

    def counted_inpaint(self, batch, masks):
        reads.inpainted += len(batch)
        return inpaint(self, batch, masks)

    monkeypatch.setattr(base.ConvAutoencoder, "inpaint", counted_inpaint)
    split_examples = splits.split_examples

    def read_split(run, source, split):
        examples = split_examples(run, source, split)
        return reads.examples(examples) if split == "test" else examples

    monkeypatch.setattr(splits, "split_examples", read_split)
    workdir = copied_run("ae")
    options = copy.deepcopy(QUICK)
    options.max_examples = None
    first = evaluate.evaluate(workdir, options)
    assert first["num_examples"] == reads.read == 90
    assert {"anomaly", "probe"} <= first.keys()
    assert max(reads.pending) <= 4 * 8, max(reads.pending)

    def measured(results):
        return {k: v for k, v in results.items() if k not in ("seconds", "machine")}

    assert measured(evaluate.evaluate(workdir, options)) == measured(first)
    reads.read = 0
    options.max_examples = 20
    assert evaluate.evaluate(workdir, options)["num_examples"] == reads.read == 20


def test_the_corruptions_do_not_depend_on_the_batches(tmp_path, monkeypatch):
    """Each image draws its noise and hole from its own seed: measured in batches of 3 or all
    at once, the corrupted images are the same (the restored ones, up to the rounding of
    other batch shapes)."""
    model = tiny_model("ae")
    x = images(batch=10)
    whole = {
        "denoising": applications.denoising(model, x, 1, tmp_path, []),
        "inpainting": applications.inpainting(model, x, 1, tmp_path, []),
    }
    monkeypatch.setattr(applications, "BATCH", 3)
    for name, section in whole["denoising"].items():
        batched = applications.denoising(model, x, 1, tmp_path, [])[name]
        assert batched["psnr_noisy"] == section["psnr_noisy"]
        assert batched["psnr_denoised"] == pytest.approx(section["psnr_denoised"], rel=1e-5)
    batched = applications.inpainting(model, x, 1, tmp_path, [])
    assert batched["masked_fraction"] == whole["inpainting"]["masked_fraction"]
    before = whole["inpainting"]["psnr_masked_before"]
    assert batched["psnr_masked_before"] == pytest.approx(before, rel=1e-12)
    assert applications.denoising(model, x, 2, tmp_path, []) != whole["denoising"]


# ------------------------------------------------------------------------------------ CLI
@pytest.mark.slow
def test_cli_runs(trained_run, tmp_path):
    result = run_cli(
        "embed",
        f"--workdir={trained_run('ae')}",
        "--split=validation",
        f"--output={tmp_path / 'val.npz'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with np.load(tmp_path / "val.npz") as saved:
        assert str(saved["split"]) == "validation" and len(saved["codes"]) > 0


def test_inpainting_psnr_counts_the_hole_pixels_only(tmp_path):
    """By hand: grey 0.75 images, a model that fills every hole with 0.5 and keeps the rest:
    over the hole pixels the error is 0.75 before (the hole at 0) and 0.25 after, PSNR
    10·log10(1/0.5625) and 10·log10(1/0.0625); the known pixels, exact, count for nothing."""
    from convae_tf.models import corruptions

    class FillsWithHalf:
        def inpaint(self, images, masks):
            return masks * 0.5 + (1 - masks) * images

    x = np.full((6, 16, 20, 1), 0.75, np.float32)
    written = []
    section = applications.inpainting(FillsWithHalf(), x, 3, tmp_path, written)
    assert section["psnr_masked_before"] == pytest.approx(10 * np.log10(1 / 0.5625))
    assert section["psnr_masked_after"] == pytest.approx(10 * np.log10(1 / 0.0625))
    seeds = [applications.corruption_seed(3, len(applications.DENOISING), i) for i in range(6)]
    holes = [
        corruptions.rectangle_mask(image, seed, **applications.INPAINTING).numpy()
        for image, seed in zip(x, seeds, strict=True)
    ]
    expected = np.mean(holes)
    assert section["masked_fraction"] == pytest.approx(expected) and 0 < expected < 0.25
    assert written == [tmp_path / "eval_inpainting.png"] and written[0].stat().st_size > 0


@pytest.mark.parametrize("channels", [1, 3])
def test_the_figure_shows_the_holes_in_colour(channels):
    """A hole set to 0 on a black background would look intact: the corrupted row shows it
    in HOLE_COLOUR instead, grey images as RGB, the other pixels as they were."""
    from convae_tf.utils import figures

    x = np.zeros((2, 8, 8, channels), np.float32)
    x[:, :, 4:] = 0.4
    holes = np.zeros((2, 8, 8, 1), bool)
    holes[:, 2:6, 1:3] = True
    shown = figures.show_holes(x, holes)
    assert shown.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(shown[holes[..., 0]], [figures.HOLE_COLOUR] * 16)
    np.testing.assert_array_equal(
        shown[~holes[..., 0]], np.broadcast_to(x, shown.shape)[~holes[..., 0]]
    )
