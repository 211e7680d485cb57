"""Export of every registered model: SavedModel signatures, TFLite parity (the exports and
their TFLite conversions are slow), and in-process: atomic versions, interrupts, one-line
converter errors. Its bad input on the command line: tests/test_bad_input.py."""

from __future__ import annotations

import contextlib
import json
import sys
import textwrap
import types
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY, blob_images, make_workdir, run_python, tiny_run_config

import convae_tf
from convae_tf import errors
from convae_tf.deploy import export, model_card, score_use, signatures, tflite, tolerance
from convae_tf.models import anomaly

MODELS = convae_tf.list_models()


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_export_writes_version_folder_with_every_file(exported, name):
    version_dir = exported(name)
    assert version_dir.name == "1"
    files = {p.name for p in version_dir.iterdir()}
    assert {"saved_model.pb", "variables", "model_card.json", "config.json"} <= files
    assert {"model_float32.tflite", "model_int8.tflite"} <= files
    assert not [p for p in version_dir.parent.iterdir() if p.name.startswith(".")]
    card = json.loads((version_dir / "model_card.json").read_text())
    assert card["model"]["name"] == name
    assert card["input"]["shape"] == [None, 16, 16, 1] and card["latent_dim"] == 2
    assert card["parameters"] > 0 and card["flops_per_image"]["reconstruct"] > 0
    assert card["files"]["int8"]["bytes"] == (version_dir / "model_int8.tflite").stat().st_size
    threshold = card["anomaly_threshold"]
    assert np.isfinite(threshold["value"]) and threshold["percentile"] == 99
    # No normal classes: every test image is normal; 4 validation images are too few to split.
    assert threshold["asked_fpr"] == 0.01 and threshold["test_images"] == 8
    assert 0 <= threshold["test_fpr"] <= 1 and "optimistic" in threshold["calibration"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_saved_model_cli_lists_the_signatures(exported, name):
    saved_model_cli = Path(sys.executable).with_name("saved_model_cli")
    result = run_python(saved_model_cli, "show", "--all", "--dir", exported(name))
    assert result.returncode == 0, result.stderr[-2000:]
    for signature in signatures.SIGNATURES:
        assert f"signature_def['{signature}']" in result.stdout
    assert "shape: (-1, 16, 16, 1)" in result.stdout  # batch dimension None
    assert "inputs['images']" in result.stdout and "inputs['code']" in result.stdout
    assert "outputs['reconstruction']" in result.stdout and "outputs['score']" in result.stdout


def test_saved_model_stores_each_weight_once(tmp_path):
    """The SavedModel's checkpoint holds at most the model's own values (keras-team/keras#23553:
    tracking the model besides the endpoints stored every weight twice)."""
    model = convae_tf.get_model("dae", **TINY, skip_connections=True)
    model(blob_images(2, 16).astype(np.float32) / 255)
    signatures.write_saved_model(model, tmp_path / "sm")
    stored = tf.train.list_variables(str(tmp_path / "sm" / "variables" / "variables"))
    values = sum(int(np.prod(shape)) for _, shape in stored)
    assert model.count_params() <= values <= sum(int(np.prod(v.shape)) for v in model.variables)


@pytest.mark.slow
def test_saved_models_reload_without_convae_tf(exported):
    """Every export loads and runs in a process that never imports convae_tf."""
    folders = {name: str(exported(name)) for name in MODELS}
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np, tensorflow as tf
        results = {{}}
        for name, folder in {folders!r}.items():
            loaded = tf.saved_model.load(folder)
            images = tf.constant(np.random.default_rng(0).random((3, 16, 16, 1)), tf.float32)
            reconstruction = loaded.signatures["serving_default"](images=images)
            encoded = loaded.signatures["encode"](images=images)
            code = encoded.get("code", encoded.get("mean"))
            decoded = loaded.signatures["decode"](code=code)["images"]
            score = loaded.signatures["score"](images=images)["score"]
            results[name] = [
                list(reconstruction["reconstruction"].shape), sorted(encoded),
                list(decoded.shape), list(score.shape),
            ]
        assert "convae_tf" not in sys.modules, "convae_tf was imported"
        print(json.dumps(results))
        """
    )
    result = run_python("-c", script)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    for name, (reconstruction, encoded, decoded, score) in results.items():
        assert reconstruction == decoded == [3, 16, 16, 1], name
        assert score == [3], name
        assert encoded == (["log_var", "mean"] if name == "vae" else ["code"]), name


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_signatures_have_no_random_ops(exported, name):
    loaded = tf.saved_model.load(str(exported(name)))
    for signature in signatures.SIGNATURES:
        assert signatures.random_ops(loaded.signatures[signature]) == set(), signature


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_parity_keras_saved_model_tflite(exported, name):
    """Measured again here, independently of the export's own check."""
    from ai_edge_litert.interpreter import Interpreter

    version_dir = exported(name)
    model = keras.saving.load_model(version_dir.parent.parent.parent / f"run-{name}/model.keras")
    images = np.random.default_rng(1).random((4, 16, 16, 1)).astype(np.float32)
    expected = np.asarray(model(images))
    served = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    np.testing.assert_allclose(
        served(images=tf.constant(images))["reconstruction"].numpy(), expected, atol=1e-5, rtol=0
    )
    runner = Interpreter(str(version_dir / "model_float32.tflite")).get_signature_runner(
        "serving_default"
    )
    tflite_out = np.concatenate([runner(images=image[None])["reconstruction"] for image in images])
    np.testing.assert_allclose(tflite_out, expected, atol=1e-5, rtol=0)
    card = json.loads((version_dir / "model_card.json").read_text())
    assert_float_parity(card, ("saved_model", "float32"))
    assert "psnr_change_db" in card["parity"]["exports"]["int8"]


def assert_float_parity(card: dict, export_names) -> None:
    """Every output of every float export within float32 rounding of the Keras model's."""
    for export_name in export_names:
        diffs = card["parity"]["exports"][export_name]["max_abs_diff"]
        for output, diff in diffs.items():
            # Images in [0, 1] are held to 1e-5 absolutely; codes and scores (the VAE's score is
            # hundreds of nats) relative to their size: float32 rounding alone moves them more.
            image = output.endswith(("/reconstruction", "/images", "/inpainted"))
            scale = 1.0 if image else 1e3
            assert diff <= 1e-5 * scale, (export_name, output, diff)


@pytest.fixture(scope="module")
def ae_workdir(tmp_path_factory):
    return make_workdir(tmp_path_factory.mktemp("ae-versions"), "ae", **TINY)


def test_versions_increase_and_interrupted_export_leaves_nothing(ae_workdir, tmp_path, monkeypatch):
    out = tmp_path / "exported" / "ae"
    (out / "1").mkdir(parents=True)  # an earlier version (its content does not matter here)
    (out / "1" / "saved_model.pb").write_bytes(b"earlier")
    published = export.export(ae_workdir, out, quantize="none")
    assert published.name == "2"
    assert {
        "saved_model.pb",
        "variables",
        "model_card.json",
        "config.json",
        "keras_weights.json",
    } <= {p.name for p in published.iterdir()}
    before = {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-conversion

    monkeypatch.setattr(tflite, "convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export.export(ae_workdir, out, quantize="float32")
    assert sorted(p.name for p in out.iterdir()) == ["1", "2"]  # no "3", no temp folder
    assert {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_flex_ops_fail_with_one_line(ae_workdir, tmp_path, monkeypatch):
    """The converter's multi-line Flex error becomes one line (a real model needing Flex ops
    would be slow to build here, so the converter is replaced by one that fails like it)."""

    def needs_flex():
        raise RuntimeError(
            "Could not translate MLIR\nSome ops are not supported\nTF Select ops: Conv2D\nmore"
        )

    def fake_converter(*args, **kwargs):
        return types.SimpleNamespace(target_spec=types.SimpleNamespace(), convert=needs_flex)

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model", fake_converter)
    with pytest.raises(tflite.ConversionError) as raised:
        export.export(ae_workdir, tmp_path / "out", quantize="float32")
    message = str(raised.value)
    assert "\n" not in message and "Flex" in message and "Conv2D" in message
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


@pytest.mark.parametrize(
    "name, args",
    [
        ("ae", {}),
        ("dae", {"strokes": 1, "mask_channel": True}),
        ("dae", {"strokes": 1, "mask_channel": True, "prefill_holes": True, "residual": True}),
    ],
)
def test_inpaint_signature_matches_keras_and_keeps_the_known_pixels(tmp_path, name, args):
    """The SavedModel's `inpaint` (images, masks → inpainted) gives model.inpaint's output,
    known pixels bit for bit, loaded in plain TensorFlow; its inputs' names and shapes are
    the ones a client passes."""
    model = convae_tf.get_model(name, **TINY, **args)
    x = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32)
    model(x)
    masks = np.zeros((3, 16, 16, 1), np.float32)
    masks[:, 4:10, 3:12] = 1.0
    signatures.write_saved_model(model, tmp_path / "saved")
    inpaint = tf.saved_model.load(str(tmp_path / "saved")).signatures[signatures.INPAINT]
    _, inputs = inpaint.structured_input_signature
    assert {k: v.shape.as_list() for k, v in inputs.items()} == {
        signatures.IMAGES: [None, 16, 16, 3],
        signatures.MASKS: [None, 16, 16, 1],
    }
    served = inpaint(images=tf.constant(x), masks=tf.constant(masks))
    assert set(served) == {signatures.INPAINTED}
    served = served[signatures.INPAINTED].numpy()
    np.testing.assert_allclose(served, model.inpaint(x, masks), atol=1e-6)
    known = np.broadcast_to(masks == 0, x.shape)
    np.testing.assert_array_equal(served[known], x[known])
    assert signatures.INPAINT not in signatures.names(model)  # the one-input signatures
    # In the TFLite files (and parity) of a model trained on holes only.
    assert (signatures.INPAINT in signatures.tflite_names(model)) == (name == "dae")


def test_parse_quantizations():
    assert tflite.parse_quantizations("all") == tflite.QUANTIZATIONS
    assert tflite.parse_quantizations("int8, float32,int8") == ("int8", "float32")
    assert tflite.parse_quantizations("none") == ()
    with pytest.raises(errors.ConfigError, match="unknown int4"):
        tflite.parse_quantizations("int4")


def identifiable_npz(path: Path) -> Path:
    """Train image i has every pixel i (label i % 2), test image j every pixel 2·j (label
    j % 3): an image's value says which one it is."""
    pixels = np.ones((1, 4, 4, 1), np.uint8)
    np.savez(
        path,
        x_train=np.arange(240, dtype=np.uint8)[:, None, None, None] * pixels,
        y_train=np.arange(240) % 2,
        x_test=(2 * np.arange(90)).astype(np.uint8)[:, None, None, None] * pixels,
        y_test=np.arange(90) % 3,
    )
    return path


# A score that is each image's value, so the threshold and the rates are known.
VALUE_SCORE = types.SimpleNamespace(score=lambda images: np.round(255 * images.mean((1, 2, 3))))


@pytest.mark.parametrize("normal_classes", [[0], None])
def test_the_threshold_is_calibrated_apart_from_the_fit_and_checked_on_normal_test_images(
    tmp_path, normal_classes, capsys
):
    train = {"dataset": f"npz:{identifiable_npz(tmp_path / 'ids.npz')}"}
    train |= {"validation_fraction": 0.5, "normal_classes": normal_classes}
    held_out = export.HeldOutData({"train": train}, (4, 4, 1), None, calibration=4)
    threshold = model_card.anomaly_threshold(VALUE_SCORE.score(held_out.threshold))
    card = threshold | export.reached_on_test(VALUE_SCORE, held_out, threshold)
    # Validation: the first half of the (normal) train images; the score is fitted on the even
    # positions, the threshold calibrated on the odd ones.
    validation = np.arange(0, 120, 2) if normal_classes else np.arange(120)
    calibration = validation[1::2]
    assert card["value"] == pytest.approx(np.percentile(calibration, 99))
    assert card["num_images"] == card["fit_images"] == len(validation) // 2
    test_values = 2 * np.arange(90)
    normal_test = test_values[np.arange(90) % 3 == 0] if normal_classes else test_values
    assert card["test_images"] == len(normal_test)
    assert card["test_fpr"] == pytest.approx(np.mean(normal_test > card["value"]))
    assert 0 < card["test_fpr"] < 1 and card["asked_fpr"] == pytest.approx(0.01)
    assert "not fitted on" in capsys.readouterr().out


@pytest.mark.slow
def test_int8_is_at_most_35_percent_of_float32_on_a_default_sized_model(tmp_path):
    # The model's default filters (32, 64) and latent_dim (16), on 32×32 images like sprites.
    workdir = make_workdir(tmp_path, "ae", size=32)
    version_dir = export.export(workdir, tmp_path / "exported", quantize="float32,int8")
    float32 = (version_dir / "model_float32.tflite").stat().st_size
    int8 = (version_dir / "model_int8.tflite").stat().st_size
    assert int8 <= 0.35 * float32, (int8, float32)


@pytest.mark.slow
def test_batch_normalization_exports_with_parity(tmp_path):
    workdir = make_workdir(tmp_path, "ae", normalization="batch", **TINY)
    # Moving statistics far from their initial (0, 1), as after a long run: the converter folds
    # them into the convolutions, and a wrong fold must show.
    model = keras.saving.load_model(workdir / "model.keras")
    rng = np.random.default_rng(3)
    norms = [
        layer
        for sub in (model.encoder, model.decoder)
        for layer in sub.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms
    for layer in norms:
        layer.moving_mean.assign(rng.normal(0.0, 0.5, layer.moving_mean.shape))
        layer.moving_variance.assign(rng.uniform(0.2, 3.0, layer.moving_variance.shape))
    model.save(workdir / "model.keras")
    version_dir = export.export(workdir, tmp_path / "exported", quantize="float32")
    images = np.random.default_rng(2).random((3, 16, 16, 1)).astype(np.float32)
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(str(version_dir / "model_float32.tflite")).get_signature_runner(
        "serving_default"
    )
    tflite_out = np.concatenate([runner(images=image[None])["reconstruction"] for image in images])
    np.testing.assert_allclose(tflite_out, np.asarray(model(images)), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_conv_bottleneck_exports_with_parity(tmp_path):
    # The VAE: its encode signature splits the channel-major code into mean and log-variance,
    # and its decode signature lays a code back on the 4×4 grid.
    workdir = make_workdir(tmp_path, "vae", bottleneck="conv", filters=(4, 8), latent_dim=32)
    version_dir = export.export(workdir, tmp_path / "exported", quantize="float32")
    card = json.loads((version_dir / "model_card.json").read_text())
    exports = card["parity"]["exports"]
    assert set(exports) == {"saved_model", "float32"}
    for checked in exports.values():
        assert any(output.startswith("decode/") for output in checked["max_abs_diff"]), checked
    assert_float_parity(card, exports)


@pytest.mark.slow
def test_skip_connections_export_without_a_decode_signature(tmp_path):
    """A denoiser with skip connections cannot decode a code alone: its SavedModel, TFLite
    files (the int8 calibration included) and model card have the other three signatures,
    each within parity."""
    workdir = make_workdir(tmp_path, "dae", skip_connections=True, **TINY)
    version_dir = export.export(workdir, tmp_path / "exported", quantize="float32,int8")
    expected = {signatures.RECONSTRUCT, signatures.ENCODE, signatures.SCORE}
    saved = set(tf.saved_model.load(str(version_dir)).signatures.keys())
    assert saved == expected | {signatures.INPAINT}  # in the TFLite files if trained on holes
    card = json.loads((version_dir / "model_card.json").read_text())
    assert set(card["signatures"]) == expected
    for quantization in ("float32", "int8"):
        assert set(card["files"][quantization]["signatures"]) == expected
    exports = card["parity"]["exports"]
    for checked in exports.values():
        assert {output.split("/")[0] for output in checked["max_abs_diff"]} == expected
    assert_float_parity(card, ("saved_model", "float32"))


@pytest.mark.slow
def test_an_inpainter_exports_its_inpaint_signature_to_tflite_with_parity(tmp_path):
    """A model trained to fill holes: its TFLite files (int8 calibrated on holes too) carry
    `inpaint`, checked against Keras on held-out images and training's holes, float32 within
    the image tolerance; the card lists it."""
    workdir = make_workdir(  # the shipped inpainter's kind of network, tiny
        tmp_path,
        "dae",
        rectangles=1,
        strokes=1,
        mask_channel=True,
        prefill_holes=True,
        residual=True,
        skip_connections=True,
        bottleneck="conv",
        filters=(4, 8),
        latent_dim=32,
    )
    version_dir = export.export(workdir, tmp_path / "exported", quantize="float32,int8")
    card = json.loads((version_dir / "model_card.json").read_text())
    for quantization in ("float32", "int8"):
        assert signatures.INPAINT in card["files"][quantization]["signatures"]
    for checked in card["parity"]["exports"].values():
        assert "inpaint/inpainted" in checked["max_abs_diff"], checked
    assert_float_parity(card, ("saved_model", "float32"))
    assert card["parity"]["parity_rule"]["inpaint/inpainted"] == tolerance.RULES["image"]


@pytest.mark.slow
def test_vamp_prior_vae_exports_a_deterministic_score_with_parity(tmp_path):
    """A VampPrior's score estimates its KL without random ops (the unscented transform), so
    the score signature exports and matches the Keras model in SavedModel and TFLite."""
    workdir = make_workdir(tmp_path, "vae", prior_components=4, **TINY)
    version_dir = export.export(workdir, tmp_path / "exported", quantize="float32")
    loaded = tf.saved_model.load(str(version_dir))
    assert signatures.random_ops(loaded.signatures[signatures.SCORE]) == set()
    card = json.loads((version_dir / "model_card.json").read_text())
    exports = card["parity"]["exports"]
    for checked in exports.values():
        assert any(output.startswith("score/") for output in checked["max_abs_diff"]), checked
    assert_float_parity(card, exports)


# ------------------------------------------------------------------------ the parity gate
# A code direction along which the held-out codes barely vary: the fitted precision then has
# an eigenvalue in the thousands, as a VAE's inactive units give on real data.
ILL_CONDITIONED_EIGENVALUE = 2000


@pytest.fixture(scope="module")
def ill_conditioned_workdir(tmp_path_factory):
    """A trained AE whose fitted score statistics are ill-conditioned: its second code unit is
    almost a copy of its first, so the fitted precision has an eigenvalue ≥ 2,000."""
    workdir = make_workdir(tmp_path_factory.mktemp("ill"), "ae", steps=30, filters=(4, 8))
    model = keras.saving.load_model(workdir / "model.keras")
    code_layer = model.encoder.layers[-1]
    kernel, bias = code_layer.kernel.numpy(), code_layer.bias.numpy()
    kernel[:, 1] = kernel[:, 0] + 1e-4 * kernel[:, 1]
    bias[1] = bias[0] + 1e-4 * bias[1]
    code_layer.kernel.assign(kernel)
    code_layer.bias.assign(bias)
    model.fit_anomaly_score(blob_images(1000, 16, seed=4).astype(np.float32) / 255.0)
    model.save(workdir / "model.keras")
    return workdir


def exported_with(monkeypatch, change):
    """Every SavedModel that the export writes (the served one and the TFLite files' source)
    is written while `change(model)`, a context manager, alters the model; the Keras
    reference that the gate compares with is the unaltered model."""
    original = signatures.write_saved_model

    def write(model, path, **kwargs):
        with change(model):
            original(model, path, **kwargs)

    monkeypatch.setattr(signatures, "write_saved_model", write)


@contextlib.contextmanager
def assigned(variable, value):
    saved = variable.numpy()
    variable.assign(value)
    try:
        yield
    finally:
        variable.assign(saved)


def code_kernel_scaled(factor):
    return lambda model: assigned(
        model.encoder.layers[-1].kernel, model.encoder.layers[-1].kernel.numpy() * factor
    )


def test_ill_conditioned_score_passes_the_gate_at_float32_rounding(
    ill_conditioned_workdir, tmp_path, monkeypatch
):
    """A code moved by float32 rounding (another kernel's summation order: here the code
    layer's weights scaled by 1 + 4e-6, a few dozen ulps) moves the fitted score through the
    precision matrix by far more than 1e-5 of the score; the gate's tolerance follows and
    passes it, and says why in the card."""
    model = keras.saving.load_model(ill_conditioned_workdir / "model.keras")
    eigenvalues = np.linalg.eigvalsh(np.asarray(model.anomaly_score.precision, np.float64))
    assert eigenvalues.max() >= ILL_CONDITIONED_EIGENVALUE, eigenvalues
    exported_with(monkeypatch, code_kernel_scaled(1 + 4e-6))
    version_dir = export.export(ill_conditioned_workdir, tmp_path / "out", quantize="float32")
    card = json.loads((version_dir / "model_card.json").read_text())
    score = card["parity"]["exports"]["float32"]
    # The former gate, 1e-5 · max(1, max |score|), would have refused this export.
    largest = max(abs(card["anomaly_threshold"]["max"]), 1.0)
    assert score["max_abs_diff"]["score/score"] > 1e-5 * largest, score
    assert score["diff_over_allowed"]["score/score"] <= 1.0
    rules = card["parity"]["parity_rule"]
    assert "P (z - mu)" in rules["score/score"] and "max |Keras output|" in rules["encode/code"]
    assert set(rules) == set(score["max_abs_diff"])


def sabotage_wrong_weight(model):
    conv = model.encoder.layers[1]
    return assigned(conv.kernel, conv.kernel.numpy() * 1.01)


def sabotage_missing_statistic(model):
    return assigned(model.anomaly_score.location, np.zeros(model.anomaly_score.location.shape))


@contextlib.contextmanager
def sabotage_swapped_signature(model):
    original = signatures.endpoints

    def swapped(model):
        fns = original(model)
        return fns | {
            signatures.ENCODE: fns[signatures.SCORE],
            signatures.SCORE: fns[signatures.ENCODE],
        }

    signatures.endpoints = swapped
    try:
        yield
    finally:
        signatures.endpoints = original


@pytest.mark.parametrize(
    "sabotage, message",
    [
        (sabotage_wrong_weight, "does not match the Keras model"),
        (sabotage_missing_statistic, "score/score differs by"),
        (sabotage_swapped_signature, "encode/code: no such output"),
        (code_kernel_scaled(1.001), "does not match the Keras model"),
    ],
    ids=["wrong-weight", "missing-score-statistic", "swapped-signature", "code-off-by-0.1%"],
)
def test_sabotaged_export_fails_the_gate(
    ill_conditioned_workdir, tmp_path, monkeypatch, sabotage, message
):
    exported_with(monkeypatch, sabotage)
    with pytest.raises(export.ExportError, match=message):
        export.export(ill_conditioned_workdir, tmp_path / "out", quantize="none")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_wrong_threshold_fails_the_gate(ill_conditioned_workdir, tmp_path, monkeypatch):
    """The card's threshold must be the percentile of the served score: one computed from
    scores that are off by a fraction of the normal images' spread is refused."""
    original = model_card.anomaly_threshold
    monkeypatch.setattr(
        model_card, "anomaly_threshold", lambda scores: original(np.asarray(scores) + 0.05)
    )
    with pytest.raises(export.ExportError, match="anomaly threshold"):
        export.export(ill_conditioned_workdir, tmp_path / "out", quantize="none")


def test_score_tolerance_bounds_the_change_that_code_errors_cause():
    """The fitted score's tolerance holds for codes moved anywhere within the code's own
    tolerance, and is still far below the score's spread on the normal images."""
    rng = np.random.default_rng(0)
    mixing = np.diag([1.0, 1.0, 1.0, 0.02])  # one stiff direction: precision eigenvalue 2,500
    rotation = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    codes = (rng.normal(size=(500, 4)) @ mixing @ rotation).astype(np.float32)
    images = rng.random((500, 8, 8, 1))
    reconstructions = np.clip(images + rng.normal(0, 0.1, images.shape), 0, 1)
    mse = np.mean(np.square(reconstructions - images).reshape(500, -1), axis=-1)
    # Set directly, without Ledoit-Wolf's shrinkage: the exact inverse covariance.
    fitted = anomaly.fit_statistics(codes, mse)
    fitted["precision"] = np.linalg.inv(np.cov(codes.T.astype(np.float64))).astype(np.float32)
    distance = np.asarray(anomaly.mahalanobis(codes, fitted["location"], fitted["precision"]))
    fitted["scales"][2:] = distance.mean(), distance.std()
    statistics = {k: np.asarray(v, np.float64) for k, v in fitted.items()}
    assert np.linalg.eigvalsh(statistics["precision"]).max() >= ILL_CONDITIONED_EIGENVALUE

    def score(codes, reconstructions):
        mse = np.mean(np.square(reconstructions - images).reshape(500, -1), axis=-1)
        distance = np.asarray(anomaly.mahalanobis(codes, fitted["location"], fitted["precision"]))
        return np.asarray(anomaly.combined(mse, distance, fitted["scales"]), np.float64)

    keras_scores = score(codes, reconstructions)
    bound = tolerance.fitted_score_tolerance(
        statistics, images, reconstructions, codes, keras_scores
    )
    step = tolerance.code_tolerance(codes)
    for _ in range(20):
        moved_codes = codes + rng.choice([-step, step], codes.shape).astype(np.float32)
        moved_images = np.clip(reconstructions + rng.choice([-1e-5, 1e-5], images.shape), 0, 1)
        assert (np.abs(score(moved_codes, moved_images) - keras_scores) <= bound).all()
    assert bound.max() < 0.01 * keras_scores.std()


# ---------------------------------------------------------------- every variant, one-class
@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "onednn_bfloat16"])
@pytest.mark.parametrize("name", MODELS)
def test_one_class_run_of_every_model_passes_the_gate(name, precision, sprites_dir, tmp_path):
    """A short run with --normal_classes on the embedded sprites, trained in float32 and in
    the bfloat16 that --precision=auto picks on CPUs with native bfloat16, exports: float32
    within parity, and every export's score ranked and its AUROC measured."""
    from convae_tf.training import train
    from convae_tf.utils import bfloat16

    if precision != "float32" and not bfloat16.native_bfloat16():
        pytest.skip("this CPU has no native bfloat16 (AVX512_BF16 or AMX): auto trains float32")
    workdir = tmp_path / "run"
    config = tiny_run_config(
        name, "sprites", workdir, normal_classes=(0,), data_dir=str(sprites_dir)
    )
    config.update(precision=precision)
    train.train_and_evaluate(config)
    version_dir = export.export(workdir, tmp_path / "out", quantize="float32,int8")
    card = json.loads((version_dir / "model_card.json").read_text())
    use = card["score_use"]
    assert set(use["exports"]) == {"saved_model", "float32", "int8"}
    for exported_name in ("saved_model", "float32"):
        assert use["exports"][exported_name]["spearman"] > 0.999, use
        assert abs(use["exports"][exported_name]["auroc"] - use["keras"]["auroc"]) < 1e-3, use
        assert "score" in card["files"][exported_name]["fit_for"]
    assert np.isfinite(use["exports"]["int8"]["auroc"])


def test_an_export_whose_auroc_falls_is_marked_fit_for_reconstruction_only(capsys):
    """Each export's score is ranked against Keras's and, one-class, its AUROC measured; one
    more than 0.01 below float32's loses "score" from its uses, and the export says so."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)  # normal class 0; class 1 are the anomalies
    keras_scores = labels + rng.normal(0, 0.5, 200)
    noise = {"saved_model": 0.0, "float32": 1e-6, "int8": 0.4, "dynamic": 0.01}

    class Runner:
        def __init__(self, name):
            self.noise = noise[name] * np.random.default_rng(1).normal(size=200)

        def __call__(self, signature, images):
            assert signature == signatures.SCORE
            return {"score": keras_scores + self.noise}

    model = types.SimpleNamespace(score=lambda images: keras_scores[: len(images)])
    held_out = types.SimpleNamespace(
        test=np.zeros((200, 1)), test_labels=labels, normal_classes=[0]
    )
    use = export.check_score_use(model, {name: Runner(name) for name in noise}, held_out)
    lines = capsys.readouterr().out.splitlines()
    fit_for = score_use.fit_for(use)
    assert fit_for["int8"] == ["reconstruction"]
    assert fit_for["dynamic"] == fit_for["float32"] == ["reconstruction", "score"]
    assert use["exports"]["int8"]["auroc"] < use["exports"]["float32"]["auroc"] - 0.01
    assert 0.5 < use["exports"]["int8"]["spearman"] < use["exports"]["dynamic"]["spearman"] < 1
    (warning,) = [line for line in lines if "fit for reconstruction only" in line]
    assert "int8" in warning and "fit_for" in warning
    # Without labels of both kinds no AUROC is measured, and every export keeps its score.
    held_out.normal_classes = None
    use = export.check_score_use(model, {name: Runner(name) for name in noise}, held_out)
    assert "auroc" not in use["exports"]["int8"] and score_use.fit_for(use)["int8"][-1] == "score"


@pytest.mark.slow
def test_int8_keeps_the_score_head_and_the_logits_in_float32(ill_conditioned_workdir, tmp_path):
    """The int8 file computes the encoder and decoder in int8 but the score's own arithmetic
    (distance through the precision matrix, log MSE, standardisation) and the decoder's last
    layer (the logits, then the sigmoid: an int8 logit would cost several 8-bit levels of
    the image) in float32."""
    from tensorflow.lite.tools import flatbuffer_utils

    version_dir = export.export(ill_conditioned_workdir, tmp_path / "out", quantize="int8")
    flatbuffer = (version_dir / "model_int8.tflite").read_bytes()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    (score,) = [s for s in model.signatureDefs if s.signatureKey == b"score"]
    subgraph = model.subgraphs[score.subgraphIndex]
    types = {
        subgraph.tensors[i].name.decode(): subgraph.tensors[i].type
        for op in subgraph.operators
        for i in op.outputs
    }
    float32, int8 = 0, 9  # the TFLite schema's TensorType
    # The quantizer's own (de)quantize ops at the head's borders are named "tfl.*".
    head = [name for name in tflite.score_head_nodes(flatbuffer) if not name.startswith("tfl.")]
    assert head and all(types[name] == float32 for name in head), types
    logits = [name for name in types if "/logits" in name]
    assert logits and all(types[name] == float32 for name in logits), types
    convolutions = [name for name in types if "/down0_conv" in name]
    assert convolutions and all(types[name] == int8 for name in convolutions), types


def test_constant_scores_have_no_rank_correlation():
    assert score_use.rank_correlation(np.ones(5), np.arange(5.0)) is None
    assert score_use.rank_correlation(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)


def test_int8_calibrates_reconstruct_on_what_it_meets_in_use():
    """A denoiser's reconstruct signature is calibrated on noisy images (its own corruption,
    the same on every export), the encode and score signatures on the clean ones; a plain
    autoencoder and an inpainter (whose reconstruct input carries no mask) on clean ones."""
    from conftest import images, tiny_model

    clean = images(batch=4)
    denoiser = tiny_model("dae", gaussian_std=(0.0, 0.2))
    denoiser(clean)
    samples = list(export.representative_data(denoiser, clean)())
    reconstruct = np.concatenate(
        [x[signatures.IMAGES] for s, x in samples if s == signatures.RECONSTRUCT]
    )
    scored = np.concatenate([x[signatures.IMAGES] for s, x in samples if s == signatures.SCORE])
    assert reconstruct.shape == clean.shape and not np.allclose(reconstruct, clean)
    np.testing.assert_array_equal(reconstruct, export.reconstruct_inputs(denoiser, clean))
    np.testing.assert_array_equal(scored, clean)
    for name, args in (("ae", {}), ("dae", {"rectangles": 1, "mask_channel": True})):
        model = tiny_model(name, **args)
        model(clean)
        np.testing.assert_array_equal(export.reconstruct_inputs(model, clean), clean)
    # The inpainter's inpaint signature: the clean images with the holes training cuts.
    samples = list(export.representative_data(model, clean)())
    inpaint = [x for s, x in samples if s == signatures.INPAINT]
    np.testing.assert_array_equal(np.concatenate([x[signatures.IMAGES] for x in inpaint]), clean)
    masks = np.concatenate([x[signatures.MASKS] for x in inpaint])
    np.testing.assert_array_equal(masks, model.training_holes(clean))
    assert 0 < masks.mean() < 1
    denoiser_samples = export.representative_data(denoiser, clean)()
    assert not any(s == signatures.INPAINT for s, _ in denoiser_samples)
