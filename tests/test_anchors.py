"""experiments/run_anchors.py: `--only` refreshes the rows it runs and keeps the others, the table
shows what each row needs and is what the report code makes of the results json, every anchor runs
a recipe that exists; the MNIST anchors run end to end in quick mode (slow)."""

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


REPORT = {
    "quick": False,
    "date": "2026-12-01 06:00 UTC",
    "total_seconds": 10.0,
    "machine": {"cpus": 2, "processor": "x86_64", "gpus": 0, "tensorflow": "2", "keras": "3"},
}


def table(markdown: str) -> dict[str, dict[str, str]]:
    """A results table's cells: {anchor name: {column header: cell text}}."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    # strict: a stray "|" inside a cell would shift every cell after it.
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    rows = [dict(zip(header, row, strict=True)) for row in cells]
    return {row["anchor"]: row for row in rows}


def test_each_row_says_when_it_ran_and_a_kept_outdated_row_says_so_until_rerun():
    ran, skipped = entry("vae-sprites", date="2026-11-27"), entry("dae-sprites", "skipped")
    report = REPORT | {"anchors": [ran, skipped]}
    rows = table(run_anchors.markdown(report))
    assert rows.keys() == {"vae-sprites", "dae-sprites"}
    time = rows["vae-sprites"]["time"]
    assert time.startswith(f"{ran['seconds']:.0f} s") and ran["date"] in time
    assert report["date"][:10] not in time  # the row's own date, not the report's
    assert rows["dae-sprites"]["time"] == "—"
    assert rows["dae-sprites"]["result (test split)"] == skipped["reason"]
    # A kept row measured with an earlier recipe says so, until a rerun replaces it.
    ran["outdated"] = "the recipe before skip connections"
    assert ran["outdated"] in table(run_anchors.markdown(report))["vae-sprites"]["time"]
    rerun = run_anchors.merged([entry("vae-sprites")], report, quick=False)
    assert "outdated" not in rerun[0]


def test_the_denoising_row_shows_the_reference_trained_side_by_side_and_the_gap():
    row = entry("dae-mnist") | {"published": "0.948 (Ruff et al. 2018)"}
    row["metrics"] |= {
        "psnr_noisy_0.4": 11.0,
        "psnr_denoised_0.4": 23.5,
        "reference_psnr_denoised_0.4": 21.25,
    }
    cells = table(run_anchors.markdown(REPORT | {"anchors": [row]}))["dae-mnist"]
    result = cells["result (test split)"]
    for figure in ("11.00", "23.50", "21.25", "+2.25"):  # noisy, ours, theirs, ours − theirs
        assert figure in result, result
    assert cells["published"] == row["published"]
    # Without a reference there is no gap to show.
    del row["metrics"]["reference_psnr_denoised_0.4"]
    assert "+2.25" not in run_anchors.result_cell(row)


def check_row(row: dict, anchor: run_anchors.Anchor) -> None:
    """A row that ran has the figures its anchor measures, each in its range, from runs of the
    anchor's own recipe."""
    assert row["status"] == "ran", row.get("reason")
    runs = list(row["per_class"].values()) if anchor.classes else [row]
    if anchor.classes:
        assert row["per_class"].keys() == {str(c) for c in anchor.classes}
        aurocs = [run["metrics"]["auroc"] for run in runs]
        assert row["metrics"]["mean_auroc"] == pytest.approx(np.mean(aurocs))
    for run in runs:
        assert f"--config={anchor.config}" in run["commands"][0]
        m = run["metrics"]
        assert m["examples"] > 0 and m["psnr"] > 0 and -1 <= m["ssim"] <= 1
        assert m["psnr_noisy_0.4"] > 0 and m["psnr_denoised_0.4"] > 0
        for share in ("probe_code", "probe_pixels", "auroc", "auprc"):
            assert share not in m or 0 <= m[share] <= 1, (share, m)
        if "neg_elbo" in m:
            assert m["neg_elbo"] > 0 and m["nll_is"] > 0 and m["k"] >= 1
            assert m["active_units"] >= 0
    if "--reference=keras_io_denoiser" in anchor.side_by_side:
        assert row["metrics"]["reference_psnr_denoised_0.4"] > 0
    if "--reference=keras_io_vae" in anchor.side_by_side:
        assert row["metrics"]["reference_neg_elbo_mean"] > 0 < row["metrics"]["neg_elbo_mean"]


def test_every_anchor_runs_a_recipe_that_exists():
    for anchor in run_anchors.ANCHORS:
        assert (REPO / anchor.config).is_file(), anchor.config
        assert anchor.config.startswith("experiments/configs/")


@pytest.mark.parametrize("stem", ["anchors", "anchors_quick"])
def test_the_committed_tables_are_the_report_code_s_rendering_of_their_json(stem):
    """The figures in anchors.md (and README.md's copy) are never typed by hand: they are what
    run_anchors makes of anchors.json, whose rows hold their anchor's figures in range."""
    report = json.loads((run_anchors.RESULTS / f"{stem}.json").read_text())
    markdown = (run_anchors.RESULTS / f"{stem}.md").read_text()
    assert markdown == run_anchors.markdown(report)
    assert report["quick"] == (stem == "anchors_quick")
    by_name = {anchor.name: anchor for anchor in run_anchors.ANCHORS}
    names = [row["name"] for row in report["anchors"]]
    assert names == [name for name in by_name if name in names]  # in the order of ANCHORS
    for row in report["anchors"]:
        if row["status"] == "ran":
            check_row(row, by_name[row["name"]])
    if stem == "anchors":
        readme = (REPO / "README.md").read_text().split("<!-- anchors:begin -->\n")[1]
        assert readme.split("<!-- anchors:end -->")[0] == markdown


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
    report = json.loads((tmp_path / "anchors_quick.json").read_text())
    rows = {row["name"]: row for row in report["anchors"]}
    assert rows.keys() == {"vae-mnist", "dae-mnist", "likelihood-mnist"}
    by_name = {anchor.name: anchor for anchor in run_anchors.ANCHORS}
    for name, row in rows.items():
        check_row(row, by_name[name])  # the side-by-side references' figures included
    likelihood = rows["likelihood-mnist"]["metrics"]
    assert 0 < likelihood["nll_is"] <= likelihood["neg_elbo"] and likelihood["k"] == 10
    # evaluate says what it is doing, stage by stage (the bounds take an hour at full length).
    log = (tmp_path / "runs/logs/likelihood-mnist.evaluate.log").read_text()
    assert "[convae_tf] evaluate: VAE bounds, k=10 posterior samples on " in log, log
    assert (tmp_path / "anchors_quick.md").read_text() == run_anchors.markdown(report)
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
