"""The experiments keep working: tiny runs of benchmark, layer_speed and precision_quality
write every field (no timing checks), and the Conv2DTranspose rewrites that layer_speed times
compute what TF's conv2d_transpose computes."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_python

from experiments import report


def run_quick(module: str, tmp_path: Path, *flags: str) -> Path:
    """Runs `python -m experiments.<module> --quick` from the repository root (as documented)
    into tmp_path/results; returns that folder."""
    out = tmp_path / "results"
    result = run_python("-m", f"experiments.{module}", "--quick", *flags, f"--out={out}", cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_quick_benchmark_writes_every_field(tmp_path):
    out = run_quick("benchmark", tmp_path, "--models=vae", "--datasets=npz")
    report = json.loads((out / "benchmark.json").read_text())
    table = (out / "benchmark.md").read_text()

    assert report["machine"]["peak_gflops_float32_matmul"] > 0
    assert set(report["recipe"]) == {"batch_size", "learning_rate", "precision"}
    rows = report["training"]["npz"]["models"]
    assert set(rows) == {"keras_io_vae", "keras_io_denoiser", "vae"}
    for row in rows.values():
        for field in (
            "images_per_second",
            "train_flops_per_image",
            "gflops_per_second",
            "share_of_peak",
            "parameters",
        ):
            assert row[field] > 0, field
    assert rows["vae"]["reference"] == "keras_io_vae"
    assert rows["vae"]["ratio_to_reference"] > 0

    for name in rows:
        engines = report["inference"][name]
        for engine in ("keras", "saved_model", "tflite_float32", "tflite_int8"):
            for batch in (1, 64):
                timing = engines[f"{engine}@{batch}"]
                assert timing["latency_ms"] > 0 and timing["images_per_second"] > 0
        assert engines["int8_over_saved_model_batch1"] > 0

    quality = report["time_to_quality"]
    assert quality["reference"]["epochs"] == 1
    assert quality["reference"]["test_negative_elbo"] > 0
    for name in ("vae", "vae@reference"):
        assert quality[name]["test_negative_elbo"] > 0
        assert quality[name]["curve"]
    assert quality["vae@reference"]["images_per_second_ratio"] > 0
    for heading in ("Training throughput", "Inference", "Time to quality"):
        assert heading in table


@pytest.mark.slow
def test_quick_layer_speed_checks_its_rewrites_and_writes_every_table(tmp_path):
    """experiments/layer_speed.py: the rewrites of Conv2DTranspose it times are checked equal
    to TF's before timing (a wrong rewrite exits non-zero), and every table is written."""
    out = run_quick("layer_speed", tmp_path)
    report = json.loads((out / "layer_speed.json").read_text())
    assert report["peak"] > 0
    assert len(report["layers"]) == 8  # the reference's seven layers and their sum
    for row in report["layers"].values():
        for mode in ("float32", "mixed_bfloat16", "onednn_bfloat16"):
            assert row[f"{mode}_ms"] > 0
        assert row["mixed_bfloat16_speedup"] > 0 and row["onednn_bfloat16_speedup"] > 0
    for per_dtype in report["rewrites"].values():
        assert set(per_dtype) == {"float32", "bfloat16"}
        for per_impl in per_dtype.values():
            assert len(per_impl) == 4
            assert all(row["ms"] > 0 and row["gflops_per_second"] > 0 for row in per_impl.values())
    # Three precisions at the first batch size, the recipe's at the second; the reference.
    runs = [(row["precision"], row["batch"]) for row in report["end_to_end"][1:]]
    assert len(runs) == 4 and {batch for _, batch in runs} == {16, 32}
    assert all(row["ratio_to_reference"] > 0 for row in report["end_to_end"][1:])
    table = (out / "layer_speed.md").read_text()
    for heading in ("## 1.", "## 2.", "## 3."):
        assert heading in table


@pytest.mark.slow
def test_quick_input_speed_measures_every_data_path_and_start_up(tmp_path):
    """experiments/input_speed.py --quick: every data path, the training rate, their ratios and
    the start-up times are written into --work (never over the committed results)."""
    from experiments import timing

    result = run_python("-m", "experiments.input_speed", "--quick", f"--work={tmp_path}", cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "input_speed.json").read_text())
    train = report["training"]
    assert train["model"] and train["images_per_second"] > 0 and train["runs"]
    paths = report["data_paths"]
    assert set(paths) == {"folder PNG", "folder JPEG", "tfrecord (from the PNG folder)"}
    for name, row in paths.items():
        assert row["images_per_second"] > 0 and row["determinism_off_images_per_second"] > 0
        assert (row.get("bare_decode_images_per_second", 0) > 0) == name.startswith("folder")
        # The ratio is data / training, round by round (the runs are rounded to 0.1 images/s).
        ratio = timing.median_ratio(row["runs"], train["runs"])
        assert row["ratio_to_training"] == pytest.approx(ratio, rel=1e-3)
        assert row["meets_goal"] == (row["ratio_to_training"] >= report["goal_ratio"])
    startup = {(row["dataset"], row["files"]): row for row in report["startup"]}
    assert set(startup) == {("folder PNG", 300), ("tfrecord", 300)}
    for row in startup.values():
        assert 0 < row["imported_seconds"] < row["fit_begins_seconds"] < row["first_step_seconds"]
        assert row["runs"]
    assert set(report["machine"]) >= {"cpu", "cores", "amx", "tensorflow"}
    table = (tmp_path / "input_speed.md").read_text()
    for line in ("| folder PNG |", "| folder JPEG |", "| tfrecord", "## Start-up"):
        assert line in table


def test_layer_speed_rewrites_equal_the_transposed_convolution():
    """The rewrites that layer_speed times compute TF's stride-2 'same' conv2d_transpose,
    values and gradients, on an odd-sized, non-square input."""
    import tensorflow as tf

    from experiments import layer_speed, transpose_rewrites

    rng = np.random.default_rng(3)
    x = tf.constant(rng.standard_normal((2, 5, 3, 4)), tf.float32)
    kernel = tf.Variable(rng.standard_normal((3, 3, 6, 4)), dtype=tf.float32)
    upstream = tf.constant(rng.standard_normal((2, 10, 6, 6)), tf.float32)

    def value_and_grads(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fn(x, kernel) * upstream)
        return [fn(x, kernel), *tape.gradient(loss, [x, kernel])]

    expected = value_and_grads(transpose_rewrites.transpose_conv)
    assert len(layer_speed.REWRITES) == 4  # TF's own and three rewrites
    for name, fn in layer_speed.REWRITES.items():
        for got, want in zip(value_and_grads(fn), expected, strict=True):
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4, err_msg=name)


@pytest.mark.slow
def test_quick_precision_quality_trains_in_every_precision(tmp_path):
    out = run_quick("precision_quality", tmp_path)
    report = json.loads((out / "precision_quality.json").read_text())
    assert set(report["precisions"]) == {"float32", "mixed_bfloat16", "onednn_bfloat16"}
    for row in report["precisions"].values():
        assert len(row["test_negative_elbo"]) == 1 and np.isfinite(row["mean"]) and row["mean"] > 0
    assert "| onednn_bfloat16 |" in (out / "precision_quality.md").read_text()


def test_readme_block_is_replaced_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:begin -->\nold\n<!-- bench:end -->\noutro\n")
    assert report.replace_readme_block("bench", "new 1\nnew 2\n", readme)
    assert readme.read_text() == (
        "intro\n<!-- bench:begin -->\nnew 1\nnew 2\n<!-- bench:end -->\noutro\n"
    )
    # A README without the block is left as it is.
    before = readme.read_text()
    assert not report.replace_readme_block("other", "x\n", readme)
    assert readme.read_text() == before


def test_readme_quotes_the_committed_benchmark_results():
    """README.md's benchmark block is what report.py renders from experiments/results/
    benchmark.json (the figures are never typed by hand), and benchmark.md its tables."""
    result = json.loads((report.RESULTS / "benchmark.json").read_text())
    block = report.README.read_text().split("<!-- benchmark:begin -->\n")[1]
    assert block.split("<!-- benchmark:end -->")[0] == report.benchmark_summary(result)
    assert (report.RESULTS / "benchmark.md").read_text() == report.benchmark_markdown(result)
